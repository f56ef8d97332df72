//! Cells through the real binary: streaming, rich output, errors, counts, input.

use crate::support::{FIRST_CELL, Kernel, result_text, stream_text};
use ferrokernel_protocol::{Content, ExecuteRequest, InputReply, Message, ReplyStatus, StreamName};
use std::time::{Duration, Instant};

const BARE: &[(&str, &str)] = &[("FERROKERNEL_PRELUDE", "0")];

fn streams(messages: &[Message]) -> Vec<(StreamName, String)> {
    messages
        .iter()
        .filter_map(|m| match &m.content {
            Content::Stream(s) => Some((s.name, s.text.clone())),
            _ => None,
        })
        .collect()
}

fn error_of(messages: &[Message]) -> (String, String, String) {
    messages
        .iter()
        .find_map(|m| match &m.content {
            Content::Error(e) => Some((e.ename.clone(), e.evalue.clone(), e.traceback.join("\n"))),
            _ => None,
        })
        .expect("an error message on iopub")
}

#[tokio::test]
async fn output_streams_while_the_cell_runs_in_the_order_it_was_written() {
    let mut kernel = Kernel::start(BARE).await;
    kernel.execute("1").await;
    let request = kernel
        .send_shell(ExecuteRequest {
            code: "println!(\"first\");\n\
                   std::thread::sleep(std::time::Duration::from_millis(1500));\n\
                   println!(\"second\");"
                .into(),
            ..ExecuteRequest::default()
        })
        .await;
    let mut arrivals = Vec::new();
    loop {
        let message = kernel.next_iopub().await;
        if !crate::support::is_reply_to(&message, &request) {
            continue;
        }
        match &message.content {
            Content::Stream(s) => arrivals.push((s.text.clone(), Instant::now())),
            Content::Status(s)
                if s.execution_state == ferrokernel_protocol::ExecutionState::Idle =>
            {
                break;
            }
            _ => {}
        }
    }
    kernel.shell_reply().await;
    let texts: Vec<&str> = arrivals.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(texts, ["first\n", "second\n"]);
    let gap = arrivals[1].1 - arrivals[0].1;
    assert!(
        gap > Duration::from_millis(1000),
        "the first line came {gap:?} before the second, not at the end"
    );

    // stdout and stderr travel through separate pipes, so writes made in the
    // same instant may arrive in either order (as with ipykernel); writes a
    // moment apart arrive in the order they were made.
    let (iopub, _) = kernel
        .execute(
            "fn pause() { std::thread::sleep(std::time::Duration::from_millis(200)); }\n\
             println!(\"a\"); pause(); eprintln!(\"b\"); pause(); println!(\"c\");",
        )
        .await;
    assert_eq!(
        streams(&iopub),
        [
            (StreamName::Stdout, "a\n".into()),
            (StreamName::Stderr, "b\n".into()),
            (StreamName::Stdout, "c\n".into())
        ]
    );

    // Output of processes the cell starts reaches the notebook too.
    let (iopub, _) = kernel
        .execute("std::process::Command::new(\"sh\").args([\"-c\", \"echo from a child\"]).status().unwrap();")
        .await;
    assert_eq!(stream_text(&iopub, "stdout"), "from a child\n");

    // A single 5 MB line arrives whole (past the default output limit, which
    // `huge_output` tests; lifted here for the cell).
    let (iopub, reply) = kernel
        .execute(":output_limit off\nlet line = \"x\".repeat(5_000_000); println!(\"{line}\");")
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    let text = stream_text(&iopub, "stdout");
    assert_eq!(text.len(), 5_000_001);
    assert!(text.bytes().take(5_000_000).all(|b| b == b'x'));
}

#[tokio::test]
async fn results_displays_and_the_evcxr_display_convention() {
    let mut kernel = Kernel::start(BARE).await;
    let (iopub, reply) = kernel.execute("6 * 7").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));
    let result_count = iopub.iter().find_map(|m| match &m.content {
        Content::ExecuteResult(r) => Some(r.execution_count),
        _ => None,
    });
    assert_eq!(result_count, Some(reply.execution_count));

    // A cell whose value is `()` (a trailing loop) shows no result, like None.
    let (iopub, reply) = kernel.execute("for i in 0..2 { println!(\"{i}\"); }").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    assert_eq!(stream_text(&iopub, "stdout"), "0\n1\n");
    assert_eq!(result_text(&iopub), None);

    let (iopub, _) = kernel
        .execute("display_html(\"<b>bold</b>\"); display_markdown(\"*it*\");")
        .await;
    let displays: Vec<(Option<String>, Option<String>)> = iopub
        .iter()
        .filter_map(|m| match &m.content {
            Content::DisplayData(d) => Some((
                d.data
                    .get("text/html")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                d.data
                    .get("text/markdown")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        displays,
        [
            (Some("<b>bold</b>".into()), None),
            (None, Some("*it*".into()))
        ]
    );

    // Crates written for evcxr render as they do there.
    kernel
        .execute(
            "struct Badge(u32);\n\
             impl Badge { fn evcxr_display(&self) {\n\
             println!(\"EVCXR_BEGIN_CONTENT text/html\\n<span>{}</span>\\nEVCXR_END_CONTENT\", self.0);\n\
             } }",
        )
        .await;
    let (iopub, _) = kernel.execute("Badge(7)").await;
    let html = iopub.iter().find_map(|m| match &m.content {
        Content::ExecuteResult(r) => r.data.get("text/html")?.as_str().map(str::to_owned),
        _ => None,
    });
    assert_eq!(html.as_deref(), Some("<span>7</span>"));
}

#[tokio::test]
async fn errors_say_what_went_wrong_and_queued_cells_are_aborted() {
    let mut kernel = Kernel::start(BARE).await;
    let (iopub, reply) = kernel
        .execute("let a = 1;\nlet b = a + missing_name;")
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (ename, evalue, traceback) = error_of(&iopub);
    assert_eq!(ename, "CompileError");
    assert!(
        evalue.contains("cannot find value `missing_name`"),
        "{evalue}"
    );
    assert!(
        traceback.contains("let b = a + missing_name;"),
        "the offending line: {traceback}"
    );
    assert!(
        traceback.contains("2 |"),
        "with its line number: {traceback}"
    );

    // A line with two labels is shown once, with both, as rustc shows it.
    let (iopub, _) = kernel.execute("let x: i32 = \"no\";").await;
    let (_, _, traceback) = error_of(&iopub);
    assert_eq!(
        traceback.matches("let x: i32 = \"no\";").count(),
        1,
        "{traceback}"
    );
    assert!(
        traceback.contains("expected due to this") && traceback.contains("expected `i32`"),
        "{traceback}"
    );

    let (iopub, reply) = kernel
        .execute("panic!(\"the {} failed\", \"bridge\");")
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (ename, evalue, _) = error_of(&iopub);
    assert_eq!(
        (ename.as_str(), evalue.as_str()),
        ("Panic", "the bridge failed")
    );
    assert_eq!(reply.error.expect("error fields").ename, "Panic");

    let (iopub, reply) = kernel
        .execute("let n: i32 = \"not a number\".parse()?;")
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (ename, evalue, _) = error_of(&iopub);
    assert_eq!(ename, "Error");
    assert_eq!(evalue, "invalid digit found in string");

    // A failure aborts what was queued behind it; without stop_on_error it does not.
    let failing = kernel
        .send_shell(ExecuteRequest {
            code: "panic!(\"stop\")".into(),
            ..ExecuteRequest::default()
        })
        .await;
    let queued = kernel
        .send_shell(ExecuteRequest {
            code: "println!(\"must not run\");".into(),
            ..ExecuteRequest::default()
        })
        .await;
    for expected in [(&failing, "error"), (&queued, "aborted")] {
        let reply = kernel.shell_reply().await;
        assert!(crate::support::is_reply_to(&reply, expected.0));
        let Content::ExecuteReply(reply) = reply.content else {
            panic!("not an execute_reply");
        };
        assert_eq!(
            serde_json::to_value(reply.status).expect("json"),
            expected.1
        );
    }
    let (_, reply) = kernel
        .execute_with(
            ExecuteRequest {
                code: "panic!(\"tolerated\")".into(),
                stop_on_error: false,
                ..ExecuteRequest::default()
            },
            FIRST_CELL,
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (_, reply) = kernel.execute("1").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
}

#[tokio::test]
async fn execution_counts_follow_ipykernel() {
    let mut kernel = Kernel::start(BARE).await;
    let (iopub, first) = kernel.execute("1").await;
    assert_eq!(first.execution_count, 1);
    let echoed = iopub.iter().find_map(|m| match &m.content {
        Content::ExecuteInput(input) => Some(input.execution_count),
        _ => None,
    });
    assert_eq!(echoed, Some(1));
    let (iopub, silent) = kernel
        .execute_with(
            ExecuteRequest {
                code: "2".into(),
                silent: true,
                ..ExecuteRequest::default()
            },
            FIRST_CELL,
        )
        .await;
    assert_eq!(silent.execution_count, 1);
    assert!(
        iopub.iter().all(|m| m.header.msg_type == "status"),
        "silent cells publish nothing"
    );
    let (_, unstored) = kernel
        .execute_with(
            ExecuteRequest {
                code: "3".into(),
                store_history: false,
                ..ExecuteRequest::default()
            },
            FIRST_CELL,
        )
        .await;
    assert_eq!(unstored.execution_count, 1);
    let (_, next) = kernel.execute("4").await;
    assert_eq!(next.execution_count, 2);
}

#[tokio::test]
async fn input_goes_to_the_frontend_and_back() {
    let mut kernel = Kernel::start(BARE).await;
    kernel.execute("1").await;
    let request = kernel
        .send_shell(ExecuteRequest {
            code: "let name = input(\"Your name: \"); println!(\"hello {name}\");".into(),
            ..ExecuteRequest::default()
        })
        .await;
    let asked = kernel.stdin_message().await;
    assert!(crate::support::is_reply_to(&asked, &request));
    let Content::InputRequest(prompt) = &asked.content else {
        panic!("not an input_request: {asked:?}");
    };
    assert_eq!(
        (prompt.prompt.as_str(), prompt.password),
        ("Your name: ", false)
    );
    let answer = kernel.request(InputReply {
        value: "Ada".into(),
    });
    Kernel::send_on(&mut kernel.stdin, &answer, &kernel.signer.clone()).await;
    let iopub = kernel.iopub_until_idle(&request, FIRST_CELL).await;
    assert_eq!(stream_text(&iopub, "stdout"), "hello Ada\n");
    kernel.shell_reply().await;
}

/// The text/html of the execute_result, if any.
fn result_html(messages: &[Message]) -> Option<String> {
    messages.iter().find_map(|m| match &m.content {
        Content::ExecuteResult(r) => r.data.get("text/html")?.as_str().map(str::to_owned),
        _ => None,
    })
}

#[tokio::test]
async fn final_values_show_as_evcxr_shows_them() {
    let mut kernel = Kernel::start(BARE).await;
    let shown = [
        ("1 + 1", Some("2")),
        ("\"abc\"", Some("\"abc\"")),
        ("String::from(\"x\")", Some("\"x\"")),
        ("()", None),
        ("let v = vec![1, 2];", None),
        // A bare immutable variable, shown twice: it is borrowed, not moved.
        ("v", Some("[1, 2]")),
        ("v", Some("[1, 2]")),
        ("let mut w = 3;\nw", Some("3")),
        // Immutable places bound in the same cell, and parts of earlier ones.
        ("let a = 5; a", Some("5")),
        (
            "#[derive(Debug)] struct Point { x: i32 }\nlet p = Point { x: 7 };\np.x",
            Some("7"),
        ),
        ("v[1]", Some("2")),
    ];
    for (cell, expected) in shown {
        let (iopub, reply) = kernel.execute(cell).await;
        assert_eq!(reply.status, ReplyStatus::Ok, "{cell}");
        assert_eq!(result_text(&iopub).as_deref(), expected, "{cell}");
    }

    // A type's own evcxr_display wins: inherent, and from a trait on a Debug type.
    let (iopub, _) = kernel
        .execute(
            "struct Page;\n\
             impl Page { fn evcxr_display(&self) { println!(\"EVCXR_BEGIN_CONTENT text/html\\n<b>page</b>\\nEVCXR_END_CONTENT\"); } }\n\
             Page",
        )
        .await;
    assert_eq!(result_html(&iopub).as_deref(), Some("<b>page</b>"));
    let (iopub, _) = kernel
        .execute(
            "#[derive(Debug)] struct Picture;\n\
             trait Show { fn evcxr_display(&self); }\n\
             impl Show for Picture { fn evcxr_display(&self) { println!(\"EVCXR_BEGIN_CONTENT text/html\\n<i>picture</i>\\nEVCXR_END_CONTENT\"); } }\n\
             Picture",
        )
        .await;
    assert_eq!(result_html(&iopub).as_deref(), Some("<i>picture</i>"));
    assert_eq!(result_text(&iopub), None, "not its Debug form");

    // :fmt changes what the display shows, and back.
    kernel.execute(":fmt {:#?}").await;
    let (iopub, _) = kernel.execute("vec![1]").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("[\n    1,\n]"));
    kernel.execute(":fmt {:x}").await;
    let (iopub, _) = kernel.execute("255").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("ff"));
    kernel.execute(":fmt").await;
    let (iopub, _) = kernel.execute("vec![1]").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("[1]"));
}

#[tokio::test]
async fn the_kernel_chooses_the_linker_not_whatever_is_on_path() {
    // A `mold` on PATH that logs its calls and runs what it was given, as
    // `mold -run cargo ...` does: evcxr would pick it for every cell.
    let dir = std::env::temp_dir().join(format!("fk-mold-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("calls");
    let mold = dir.join("mold");
    std::fs::write(
        &mold,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nshift\nexec \"$@\"\n",
            log.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&mold, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut kernel = Kernel::start(&[("FERROKERNEL_PRELUDE", "0"), ("PATH", &path)]).await;
    kernel.execute("1").await;
    let calls = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let after_start = calls();
    let (iopub, _) = kernel.execute("40 + 2").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));
    assert_eq!(
        calls(),
        after_start,
        "a cell was linked through the mold on PATH"
    );
    // And taking it away does not break the kernel.
    std::fs::remove_file(&mold).expect("remove");
    let (iopub, reply) = kernel.execute("43 + 1").await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{iopub:?}");
    assert_eq!(result_text(&iopub).as_deref(), Some("44"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn cells_are_built_by_rustc_alone_until_something_else_changes() {
    // A local crate, added with `:dep` and edited between cells.
    let dir = std::env::temp_dir().join(format!("fk-cell-build-{}", std::process::id()));
    let answer = dir.join("answer");
    std::fs::create_dir_all(answer.join("src")).expect("dir");
    std::fs::write(
        answer.join("Cargo.toml"),
        "[package]\nname = \"answer\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .expect("manifest");
    // Its build script embeds a file outside the package, which it asks cargo to watch.
    let outside = dir.join("outside.txt");
    std::fs::write(&outside, "one").expect("outside");
    std::fs::write(
        answer.join("build.rs"),
        format!(
            "fn main() {{\n    let path = {:?};\n    \
             println!(\"cargo:rerun-if-changed={{path}}\");\n    \
             let text = std::fs::read_to_string(path).unwrap_or_default();\n    \
             println!(\"cargo:rustc-env=FK_OUTSIDE={{text}}\");\n}}\n",
            outside.display().to_string()
        ),
    )
    .expect("build script");
    let source = answer.join("src").join("lib.rs");
    let lib = |answer: i32| {
        format!(
            "pub fn answer() -> i32 {{ {answer} }}\n\
             pub fn outside() -> &'static str {{ env!(\"FK_OUTSIDE\") }}\n"
        )
    };
    std::fs::write(&source, lib(41)).expect("source");
    let log = dir.join("builds");
    let log_text = log.display().to_string();
    let mut kernel = Kernel::start(&[("FERROKERNEL_CELL_BUILD_LOG", &log_text)]).await;
    let last_build = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    };

    kernel.execute("let a = 1;").await;
    let (iopub, _) = kernel.execute("println!(\"{}\", a + 1);").await;
    assert_eq!(stream_text(&iopub, "stdout"), "2\n");
    assert!(
        last_build().starts_with("rustc ("),
        "a cell after the first is rustc's alone: {}",
        last_build()
    );
    // A compile error comes back from rustc alone as from cargo.
    let (iopub, reply) = kernel.execute("let b: i32 = \"x\";").await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let (_, message) = crate::support::error_of(&iopub).expect("an error");
    assert!(message.contains("mismatched types"), "{message}");
    assert!(last_build().starts_with("rustc ("), "{}", last_build());

    let dep = format!(
        ":dep answer = {{ path = {:?} }}",
        answer.display().to_string()
    );
    let (iopub, reply) = kernel.execute(&dep).await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{iopub:?}");
    assert!(last_build().starts_with("cargo:"), "{}", last_build());
    let (iopub, _) = kernel.execute("answer::answer()").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("41"));
    assert!(last_build().starts_with("rustc ("), "{}", last_build());

    // Editing the local crate is seen: cargo builds it again.
    std::fs::write(&source, lib(42)).expect("edit");
    let (iopub, _) = kernel.execute("answer::answer()").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("42"));
    assert!(
        last_build().starts_with("cargo:") && last_build().contains("answer"),
        "{}",
        last_build()
    );
    let (iopub, _) = kernel.execute("answer::answer() + a").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("43"));
    assert!(last_build().starts_with("rustc ("), "{}", last_build());

    // So is editing the file outside it that its build script watches.
    let (iopub, _) = kernel.execute("answer::outside()").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("\"one\""));
    std::fs::write(&outside, "two").expect("edit outside");
    let (iopub, _) = kernel.execute("answer::outside()").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("\"two\""));
    assert!(
        last_build().starts_with("cargo:") && last_build().contains("outside.txt"),
        "{}",
        last_build()
    );
    let (iopub, _) = kernel.execute("answer::outside().len()").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("3"));
    assert!(last_build().starts_with("rustc ("), "{}", last_build());
    let _ = std::fs::remove_dir_all(dir);
}
