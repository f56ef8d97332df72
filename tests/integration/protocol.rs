//! The real binary over zeromq: signatures, bad messages, and every request type.

use crate::support::{Kernel, is_reply_to, result_text};
use ferrokernel_protocol::{
    CommInfoRequest, CommOpen, CompleteRequest, Completeness, Content, ExecuteRequest, HistAccess,
    HistoryEntry, HistoryRequest, InspectRequest, IsCompleteRequest, KernelInfoRequest, Message,
    ReplyStatus, Signer,
};
use std::time::{Duration, Instant};
use zeromq::{SocketRecv, SocketSend};

/// The prelude is not needed to test the protocol; without it the engine starts faster.
const BARE: &[(&str, &str)] = &[("FERROKERNEL_PRELUDE", "0")];

#[tokio::test]
async fn kernel_info_describes_rust_and_arrives_before_the_engine_is_up() {
    let started = Instant::now();
    let mut kernel = Kernel::start(BARE).await;
    let reply = kernel.control_request(KernelInfoRequest {}).await;
    println!(
        "launch -> kernel_info_reply on control: {:?}",
        started.elapsed()
    );
    let Content::KernelInfoReply(info) = reply.content else {
        panic!("not a kernel_info_reply");
    };
    assert_eq!(info.implementation, "ferrokernel");
    assert_eq!(info.protocol_version, "5.5");
    let language = &info.language_info;
    assert_eq!(
        (
            language.name.as_str(),
            language.mimetype.as_str(),
            language.file_extension.as_str(),
            language.pygments_lexer.as_str(),
            language.codemirror_mode.as_str()
        ),
        ("rust", "text/rust", ".rs", "rust", "rust")
    );
    assert!(
        language.version.starts_with("1."),
        "rustc version: {}",
        language.version
    );
    assert!(!info.help_links.is_empty());
}

#[tokio::test]
async fn forged_and_malformed_messages_are_dropped_and_the_kernel_keeps_serving() {
    let mut kernel = Kernel::start(BARE).await;
    let forged = kernel.request(ExecuteRequest {
        code: "println!(\"FORGED\");".into(),
        ..ExecuteRequest::default()
    });
    let mut frames = forged.to_frames(&Signer::new(b"not the key"));
    kernel.send_shell_frames(frames.clone()).await;
    // Right signature, tampered content.
    frames = forged.to_frames(&kernel.signer);
    let last = frames.len() - 1;
    frames[last] = br#"{"code": "println!(\"TAMPERED\");"}"#.to_vec();
    kernel.send_shell_frames(frames).await;
    kernel
        .send_shell_frames(vec![b"no delimiter".to_vec()])
        .await;
    kernel
        .send_shell_frames(vec![b"<IDS|MSG>".to_vec(), b"sig".to_vec()])
        .await;
    let unsigned = Signer::new(b"");
    let mut bad_json = forged.to_frames(&unsigned);
    bad_json[2] = b"{not json".to_vec();
    let signature = kernel
        .signer
        .sign([&bad_json[2], &bad_json[3], &bad_json[4], &bad_json[5]]);
    bad_json[1] = signature.into_bytes();
    kernel.send_shell_frames(bad_json).await;

    // None of that ran, and the kernel still answers.
    let (iopub, reply) = kernel.execute("println!(\"genuine\");").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    assert_eq!(
        reply.execution_count, 1,
        "the forged cells were never counted"
    );
    let text = crate::support::stream_text(&iopub, "stdout");
    assert_eq!(text, "genuine\n");
    let info = kernel.send_shell(KernelInfoRequest {}).await;
    assert!(is_reply_to(&kernel.shell_reply().await, &info));
}

#[tokio::test]
async fn an_empty_key_means_unsigned_messages() {
    let mut kernel = Kernel::start_with_key("", BARE).await;
    let request = kernel.request(KernelInfoRequest {});
    let frames = request.to_frames(&Signer::new(b""));
    assert!(frames[1].is_empty(), "no signature frame content");
    kernel.send_shell_frames(frames).await;
    let reply = kernel.shell_reply().await;
    assert!(is_reply_to(&reply, &request));
}

#[tokio::test]
async fn heartbeat_echoes_even_while_a_cell_runs() {
    let mut kernel = Kernel::start(BARE).await;
    kernel.execute("1").await;
    let busy = kernel
        .send_shell(ExecuteRequest {
            code: "std::thread::sleep(std::time::Duration::from_secs(3));".into(),
            ..ExecuteRequest::default()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ping = zeromq::ZmqMessage::from(b"ping".to_vec());
    kernel.heartbeat.send(ping).await.expect("ping");
    let pong = tokio::time::timeout(Duration::from_secs(1), kernel.heartbeat.recv())
        .await
        .expect("the heartbeat answers within a second while the cell sleeps")
        .expect("pong");
    assert_eq!(pong.into_vec()[0].as_ref(), b"ping");
    let reply = kernel.shell_reply().await;
    assert!(is_reply_to(&reply, &busy));
}

fn history(access: HistAccess) -> HistoryRequest {
    HistoryRequest {
        output: false,
        raw: true,
        hist_access_type: access,
        session: None,
        start: None,
        stop: None,
        n: None,
        pattern: None,
        unique: false,
    }
}

async fn ask(kernel: &mut Kernel, content: impl Into<Content>) -> Content {
    let request = kernel.send_shell(content).await;
    let reply: Message = kernel.shell_reply().await;
    assert!(is_reply_to(&reply, &request));
    reply.content
}

#[tokio::test]
async fn every_shell_request_type_is_answered() {
    let mut kernel = Kernel::start(BARE).await;
    let (iopub, _) = kernel.execute("let zebra_count = 40;").await;
    assert!(result_text(&iopub).is_none());
    let (iopub, _) = kernel.execute("zebra_count + 2").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));

    for (code, expected) in [
        ("fn f() {", Completeness::Incomplete),
        ("let x = vec![1,", Completeness::Incomplete),
        ("let x = 1;", Completeness::Complete),
        ("}", Completeness::Invalid),
    ] {
        let Content::IsCompleteReply(verdict) =
            ask(&mut kernel, IsCompleteRequest { code: code.into() }).await
        else {
            panic!("not an is_complete_reply");
        };
        assert_eq!(verdict.status, expected, "{code}");
    }

    let code = "zebra_c";
    let Content::CompleteReply(completions) = ask(
        &mut kernel,
        CompleteRequest {
            code: code.into(),
            cursor_pos: code.len(),
        },
    )
    .await
    else {
        panic!("not a complete_reply");
    };
    assert!(
        completions.matches.iter().any(|m| m == "zebra_count"),
        "{:?}",
        completions.matches
    );
    assert_eq!(
        (completions.cursor_start, completions.cursor_end),
        (0, code.len())
    );

    let Content::InspectReply(inspected) = ask(
        &mut kernel,
        InspectRequest {
            code: "zebra_count".into(),
            cursor_pos: 3,
            detail_level: 0,
        },
    )
    .await
    else {
        panic!("not an inspect_reply");
    };
    assert!(inspected.found, "{inspected:?}");
    let text = inspected.data["text/plain"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(text.contains("i32"), "the type of the variable: {text}");
    let Content::InspectReply(nothing) = ask(
        &mut kernel,
        InspectRequest {
            code: "   ".into(),
            cursor_pos: 1,
            detail_level: 0,
        },
    )
    .await
    else {
        panic!("not an inspect_reply");
    };
    assert!(!nothing.found);

    let Content::HistoryReply(tail) = ask(
        &mut kernel,
        HistoryRequest {
            n: Some(1),
            ..history(HistAccess::Tail)
        },
    )
    .await
    else {
        panic!("not a history_reply");
    };
    assert_eq!(
        tail.history,
        [HistoryEntry::Input(1, 2, "zebra_count + 2".into())]
    );
    let Content::HistoryReply(range) = ask(
        &mut kernel,
        HistoryRequest {
            session: Some(0),
            start: Some(1),
            stop: Some(2),
            ..history(HistAccess::Range)
        },
    )
    .await
    else {
        panic!("not a history_reply");
    };
    assert_eq!(
        range.history,
        [HistoryEntry::Input(1, 1, "let zebra_count = 40;".into())]
    );
    let Content::HistoryReply(search) = ask(
        &mut kernel,
        HistoryRequest {
            pattern: Some("zebra*+*".into()),
            ..history(HistAccess::Search)
        },
    )
    .await
    else {
        panic!("not a history_reply");
    };
    assert_eq!(search.history.len(), 1);

    let Content::CommInfoReply(comms) = ask(&mut kernel, CommInfoRequest::default()).await else {
        panic!("not a comm_info_reply");
    };
    assert_eq!(comms.status, ReplyStatus::Ok);
    let open = kernel
        .send_shell(CommOpen {
            comm_id: "c1".into(),
            target_name: "jupyter.widget".into(),
            target_module: None,
            data: Default::default(),
        })
        .await;
    let iopub = kernel
        .iopub_until_idle(&open, Duration::from_secs(10))
        .await;
    assert!(iopub.iter().any(|m| m.header.msg_type == "comm_close"));

    let unknown = Content::decode("usage_request", b"{}").expect("json");
    let request = kernel.send_shell(unknown).await;
    let reply = kernel.shell_reply().await;
    assert!(is_reply_to(&reply, &request));
    assert_eq!(reply.header.msg_type, "usage_reply");
}
