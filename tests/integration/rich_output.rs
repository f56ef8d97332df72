//! Rich output where it was printed: evcxr display blocks, displays with ids,
//! and the cell's value, in order with the cell's text.

use crate::support::{Kernel, result_text};
use ferrokernel_protocol::{Content, Message, ReplyStatus};

const BARE: &[(&str, &str)] = &[("FERROKERNEL_PRELUDE", "0")];

/// What a cell showed, in order: `text:` for stdout, `display:` and `result:`
/// with the bundle's `mime=content` pairs.
fn shown(messages: &[Message]) -> Vec<String> {
    let pairs = |data: &ferrokernel_protocol::MimeBundle| {
        data.iter()
            .map(|(mime, content)| format!("{mime}={}", content.as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    messages
        .iter()
        .filter_map(|m| match &m.content {
            Content::Stream(s) => Some(format!("text:{}", s.text)),
            Content::DisplayData(d) => Some(format!("display:{}", pairs(&d.data))),
            Content::ExecuteResult(r) => Some(format!("result:{}", pairs(&r.data))),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_display_block_is_shown_where_it_was_printed() {
    let mut kernel = Kernel::start(BARE).await;
    let (_, reply) = kernel
        .execute(
            "fn block(mime: &str, body: &str) {\n\
             println!(\"EVCXR_BEGIN_CONTENT {mime}\\n{body}\\nEVCXR_END_CONTENT\");\n\
             }\n\
             struct Chart(u32);\n\
             impl Chart { fn evcxr_display(&self) {\n\
             block(\"image/svg+xml\", &format!(\"<svg id='{}'/>\", self.0));\n\
             block(\"text/plain\", &format!(\"chart {}\", self.0));\n\
             } }",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok);

    // Text and blocks in order; formats printed together are one display; a
    // repeated format starts a new one (a loop drawing three charts shows three).
    let (iopub, _) = kernel
        .execute(
            "println!(\"before\");\n\
             block(\"text/html\", \"<b>one</b>\");\n\
             println!(\"between\");\n\
             block(\"text/html\", \"<b>two</b>\"); block(\"text/plain\", \"two\");\n\
             println!(\"charts\");\n\
             for i in 0..3 { Chart(i).evcxr_display(); }\n\
             println!(\"after\");",
        )
        .await;
    assert_eq!(
        shown(&iopub),
        [
            "text:before\n",
            "display:text/html=<b>one</b>",
            "text:between\n",
            "display:text/html=<b>two</b> text/plain=two",
            "text:charts\n",
            "display:image/svg+xml=<svg id='0'/> text/plain=chart 0",
            "display:image/svg+xml=<svg id='1'/> text/plain=chart 1",
            "display:image/svg+xml=<svg id='2'/> text/plain=chart 2",
            "text:after\n",
        ]
    );

    // The final value stays the result: a type's own evcxr_display, after a
    // chart drawn just before it ...
    let (iopub, _) = kernel.execute("Chart(6).evcxr_display();\nChart(7)").await;
    assert_eq!(
        shown(&iopub),
        [
            "display:image/svg+xml=<svg id='6'/> text/plain=chart 6",
            "result:image/svg+xml=<svg id='7'/> text/plain=chart 7",
        ]
    );
    // ... a Debug value through the prelude's display trait ...
    let (iopub, _) = kernel
        .execute("block(\"text/html\", \"<i>drawn</i>\");\n6 * 7")
        .await;
    assert_eq!(
        shown(&iopub),
        ["display:text/html=<i>drawn</i>", "result:text/plain=42"]
    );
    // ... and `()` is not shown, while what the loop drew is.
    let (iopub, _) = kernel
        .execute("for i in 0..2 { Chart(i).evcxr_display(); }")
        .await;
    assert_eq!(
        shown(&iopub),
        [
            "display:image/svg+xml=<svg id='0'/> text/plain=chart 0",
            "display:image/svg+xml=<svg id='1'/> text/plain=chart 1",
        ]
    );
    assert_eq!(result_text(&iopub), None);
}

/// The one test that builds a crate from crates.io (plotters, once; CI keeps
/// the build in the engine cache).
#[tokio::test]
async fn plotters_evcxr_notebooks_run_as_written_and_refused_deps_say_why() {
    let mut kernel = Kernel::start(BARE).await;
    // Exactly as plotters' evcxr example notebook spells it (edition 2024
    // manifests refuse `default_features`; the kernel normalises it).
    let (iopub, reply) = kernel
        .execute(
            ":dep plotters = { version = \"^0.3.0\", default_features = false, features = [\"evcxr\", \"all_series\"] }\n\
             extern crate plotters;\n\
             use plotters::prelude::*;",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", shown(&iopub));
    let (iopub, reply) = kernel
        .execute(
            "for n in 1..=2 {\n\
             evcxr_figure((320, 240), |root| {\n\
             root.fill(&WHITE)?;\n\
             let mut chart = ChartBuilder::on(&root)\n\
             .caption(format!(\"y = x^{n}\"), (\"sans-serif\", 20).into_font())\n\
             .build_cartesian_2d(-1f32..1f32, -1f32..1f32)?;\n\
             chart.draw_series(LineSeries::new(\n\
             (-50..=50).map(|x| x as f32 / 50.0).map(|x| (x, x.powi(n))), &RED))?;\n\
             Ok(())\n\
             }).evcxr_display();\n\
             }",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", shown(&iopub));
    let charts: Vec<&str> = iopub
        .iter()
        .filter_map(|m| match &m.content {
            Content::DisplayData(d) => d
                .data
                .get("text/html")
                .or_else(|| d.data.get("image/svg+xml"))
                .and_then(|v| v.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(charts.len(), 2, "{:?}", shown(&iopub));
    for (chart, n) in charts.iter().zip(1..) {
        assert!(chart.contains("<svg"), "{chart}");
        assert!(chart.contains(&format!("y = x^{n}")), "{chart}");
    }

    // A :dep cargo refuses is one error that marks the refused part.
    let (iopub, reply) = kernel
        .execute(":dep plotters = { version = \"^0.3.0\", features = [\"no_such_feature\"] }")
        .await;
    assert_eq!(reply.status, ReplyStatus::Error);
    let error = reply.error.expect("error fields");
    assert_eq!(error.ename, "DependencyError");
    assert_eq!(
        error.evalue,
        "`:dep plotters`: `plotters` has no feature `no_such_feature`"
    );
    let traceback = error.traceback.join("\n");
    assert!(!traceback.contains("evcxr_dummy"), "{traceback}");
    assert!(traceback.contains("cargo refused this"), "{traceback}");
    assert!(!iopub.is_empty());
    let (_, reply) = kernel
        .execute(":dep plotters = { version = \"^0.3.0\", featurs = [\"evcxr\"] }")
        .await;
    let error = reply.error.expect("error fields");
    assert_eq!(
        error.evalue,
        "`:dep plotters`: cargo knows no key `featurs`"
    );
    assert!(
        error
            .traceback
            .join("\n")
            .contains("did you mean `features`?")
    );
}

/// The `text/plain` of display and update messages, with their display ids.
fn bar_messages(messages: &[Message]) -> Vec<(&'static str, String, String)> {
    messages
        .iter()
        .filter_map(|m| {
            let (kind, display) = match &m.content {
                Content::DisplayData(d) => ("display", d),
                Content::UpdateDisplayData(d) => ("update", &d.0),
                _ => return None,
            };
            let id = display.transient.get("display_id")?.as_str()?.to_owned();
            let text = display.data.get("text/plain")?.as_str()?.to_owned();
            Some((kind, id, text))
        })
        .collect()
}

#[tokio::test]
async fn progress_is_one_display_updated_in_place_that_ends_at_100_percent() {
    let mut kernel = Kernel::start(BARE).await;
    kernel.execute("1").await; // the engine's own start-up progress comes first
    let cell = "let mut sum = 0u64;\n\
                for n in progress(0..30u64).label(\"squares\") {\n\
                sum += n * n;\n\
                std::thread::sleep(std::time::Duration::from_millis(20));\n\
                }\n\
                println!(\"{sum}\");";
    let started = std::time::Instant::now();
    let (iopub, reply) = kernel.execute(cell).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, ReplyStatus::Ok);
    let bars = bar_messages(&iopub);
    assert!(bars.len() >= 3, "{bars:?}");
    assert_eq!(bars[0].0, "display");
    assert!(bars[0].2.starts_with("squares:   0%"), "{bars:?}");
    assert!(
        bars[1..]
            .iter()
            .all(|(kind, id, _)| *kind == "update" && *id == bars[0].1)
    );
    let last = &bars[bars.len() - 1].2;
    assert!(
        last.starts_with("squares: 100%") && last.contains("30/30"),
        "{last}"
    );
    // At most ten redraws a second, plus the first and the last.
    let allowed = (elapsed.as_secs_f64() * 10.0).ceil() as usize + 2;
    assert!(
        bars.len() <= allowed,
        "{} redraws in {elapsed:?}",
        bars.len()
    );
    let html = iopub.iter().find_map(|m| match &m.content {
        Content::DisplayData(d) => d.data.get("text/html")?.as_str().map(str::to_owned),
        _ => None,
    });
    assert!(html.is_some_and(|h| h.contains("<progress")));

    // A headless runner (nbval, nbconvert) gets the bar once, at its end, in its place.
    let (iopub, _) = kernel
        .execute_with(
            ferrokernel_protocol::ExecuteRequest {
                code: cell.into(),
                allow_stdin: false,
                ..Default::default()
            },
            crate::support::FIRST_CELL,
        )
        .await;
    let bars = bar_messages(&iopub);
    assert_eq!(bars.len(), 1, "{bars:?}");
    assert!(bars[0].2.starts_with("squares: 100%"), "{bars:?}");
    assert_eq!(
        shown(&iopub).last().map(String::as_str),
        Some("text:8555\n")
    );
}

/// The `<g class="process">` rows of an SVG, parsed by Python's XML parser
/// (so the document is checked as XML, not by our own reading): each row's label.
fn svg_process_rows(svg: &str) -> Vec<String> {
    use std::io::Write;
    let script = "import sys, xml.etree.ElementTree as ET\n\
                  ns = '{http://www.w3.org/2000/svg}'\n\
                  root = ET.fromstring(sys.stdin.read())\n\
                  assert root.tag == ns + 'svg', root.tag\n\
                  for g in root.iter(ns + 'g'):\n\
                  \x20   if g.get('class') == 'process':\n\
                  \x20       print(g.find(ns + 'text').text)\n";
    let mut python = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    python
        .stdin
        .take()
        .expect("stdin")
        .write_all(svg.as_bytes())
        .expect("write the SVG");
    let out = python.wait_with_output().expect("python3 ends");
    assert!(
        out.status.success(),
        "not valid SVG: {}\n{svg}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_timeline_of_a_cell_s_processes_and_pool_arrives_as_svg_with_a_row_each() {
    let mut kernel = Kernel::start(&[]).await;
    kernel.execute("1").await;
    let (iopub, reply) = kernel
        .execute(
            "let mut first = multiprocessing::Process::new(|| {}).name(\"first\");\n\
             let mut second = multiprocessing::Process::new(|| std::process::exit(4)).name(\"second\");\n\
             first.start()?; second.start()?; first.join()?; second.join()?;\n\
             let pool = multiprocessing::Pool::with_processes(2)?;\n\
             let mut workers: Vec<i32> = pool.map(|_: u32| os::getpid(), 0..8)?;\n\
             workers.sort(); workers.dedup();\n\
             println!(\"{} {} {:?}\", first.pid().unwrap_or(0), second.pid().unwrap_or(0), workers);",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", shown(&iopub));
    let printed = crate::support::stream_text(&iopub, "stdout");
    let mut words = printed.split_whitespace();
    let first: i32 = words.next().and_then(|w| w.parse().ok()).expect("a pid");
    let second: i32 = words.next().and_then(|w| w.parse().ok()).expect("a pid");
    let workers: Vec<i32> = words
        .map(|w| w.trim_matches(['[', ']', ',']))
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().expect("a worker's pid"))
        .collect();
    assert!((1..=2).contains(&workers.len()), "{printed}");

    let (iopub, reply) = kernel.execute("multiprocessing::timeline()").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    let result = iopub.iter().find_map(|m| match &m.content {
        Content::ExecuteResult(r) => Some(r.data.clone()),
        Content::DisplayData(d) if d.data.contains_key("image/svg+xml") => Some(d.data.clone()),
        _ => None,
    });
    let result = result.expect("the timeline is shown");
    let svg = result["image/svg+xml"].as_str().unwrap_or_default();
    let rows = svg_process_rows(svg);
    // Both workers were forked (8 items make 8 chunks), whichever did the work.
    assert_eq!(rows.len(), 4, "{rows:?}");
    let row = |pid: i32| {
        let rows: Vec<&String> = rows
            .iter()
            .filter(|r| r.contains(&format!("(pid {pid}, ")))
            .collect();
        assert_eq!(rows.len(), 1, "one row for pid {pid}: {rows:?}");
        rows[0].clone()
    };
    assert!(row(first).starts_with("first "));
    assert!(row(second).starts_with("second "));
    for worker in &workers {
        assert!(row(*worker).starts_with("ForkPoolWorker-"));
    }
    let pool_rows = rows.iter().filter(|r| r.starts_with("ForkPoolWorker-"));
    assert_eq!(pool_rows.count(), 2, "{rows:?}");
    let text = result["text/plain"].as_str().unwrap_or_default();
    assert!(text.contains("Pool(2).map, 8 items"), "{text}");
    assert!(text.contains("exit 4"), "{text}");
    // Shown once: the next timeline is empty.
    let (iopub, _) = kernel.execute("multiprocessing::timeline().len()").await;
    assert_eq!(result_text(&iopub).as_deref(), Some("0"));
}

/// What a cell showed, its error included (for assertion messages).
fn shown_and_error(messages: &[Message]) -> Vec<String> {
    let mut all = shown(messages);
    all.extend(messages.iter().filter_map(|m| match &m.content {
        Content::Error(e) => Some(format!("error:{}: {}", e.ename, e.evalue)),
        _ => None,
    }));
    all
}

/// The bars of a cell: one display id throughout, and the last one's text.
fn one_bar(iopub: &[Message]) -> String {
    let bars = bar_messages(iopub);
    assert!(!bars.is_empty(), "a progress bar: {:?}", shown(iopub));
    assert_eq!(bars[0].0, "display", "{bars:?}");
    assert!(
        bars.iter().all(|(_, id, _)| *id == bars[0].1),
        "one display id: {bars:?}"
    );
    assert!(bars[1..].iter().all(|(kind, _, _)| *kind == "update"));
    bars[bars.len() - 1].2.clone()
}

#[tokio::test]
async fn progress_follows_a_pool_s_map_and_imap_and_as_completed_knowing_their_totals() {
    let mut kernel = Kernel::start(&[]).await;
    kernel.execute("1").await;
    // The blocking map's opt-in: one bar, updated in place, ending at 100 %.
    let (iopub, reply) = kernel
        .execute(
            "let pool = multiprocessing::Pool::with_processes(2)?;\n\
             fn slow(x: u64) -> u64 { std::thread::sleep(std::time::Duration::from_millis(25)); x * x }\n\
             let squares: Vec<u64> = pool.map_progress(slow, 0..40u64)?;\n\
             squares.len()",
        )
        .await;
    assert_eq!(
        reply.status,
        ReplyStatus::Ok,
        "{:?}",
        shown_and_error(&iopub)
    );
    assert_eq!(result_text(&iopub).as_deref(), Some("40"));
    let bars = bar_messages(&iopub);
    assert!(bars.len() >= 3, "drawn as it went: {bars:?}");
    assert!(
        bars[0].2.starts_with("  0%") && bars[0].2.contains("0/40"),
        "{bars:?}"
    );
    let last = one_bar(&iopub);
    assert!(last.starts_with("100%") && last.contains("40/40"), "{last}");

    // A failing map's bar ends where it failed, not at 100 %.
    let (iopub, reply) = kernel
        .execute(
            "pool.map_progress(|x: u64| { std::thread::sleep(std::time::Duration::from_millis(5)); \
             assert!(x != 30, \"thirty\"); x }, 0..40u64).map(|v| v.len())",
        )
        .await;
    assert_eq!(
        reply.status,
        ReplyStatus::Ok,
        "{:?}",
        shown_and_error(&iopub)
    );
    let last = one_bar(&iopub);
    assert!(
        !last.starts_with("100%") && !last.contains("40/40"),
        "{last}"
    );
    assert!(
        result_text(&iopub).is_some_and(|r| r.contains("thirty")),
        "{:?}",
        shown(&iopub)
    );

    // imap over a range knows its total, as tqdm's total=len(xs) would.
    let (iopub, reply) = kernel
        .execute(
            "let squares: Vec<u64> = progress(pool.imap(|x: u64| x * x, 0..40u64)?)\n\
             .collect::<Result<_, _>>()?;\n\
             squares.len()",
        )
        .await;
    assert_eq!(
        reply.status,
        ReplyStatus::Ok,
        "{:?}",
        shown_and_error(&iopub)
    );
    assert_eq!(result_text(&iopub).as_deref(), Some("40"));
    let bars = bar_messages(&iopub);
    assert!(
        bars[0].2.contains("| 0/40 "),
        "the total is known at once: {bars:?}"
    );
    let last = one_bar(&iopub);
    assert!(last.starts_with("100%") && last.contains("40/40"), "{last}");

    // as_completed knows how many futures it waits for.
    let (iopub, reply) = kernel
        .execute(
            "let executor = concurrent::futures::ProcessPoolExecutor::with_max_workers(2)?;\n\
             let futures: Vec<_> = (0..6u64).map(|n| executor.submit(move || n * 2)).collect::<Result<_, _>>()?;\n\
             progress(concurrent::futures::as_completed(&futures)).count()",
        )
        .await;
    assert_eq!(
        reply.status,
        ReplyStatus::Ok,
        "{:?}",
        shown_and_error(&iopub)
    );
    assert_eq!(result_text(&iopub).as_deref(), Some("6"));
    let bars = bar_messages(&iopub);
    assert!(bars[0].2.contains("| 0/6 "), "{bars:?}");
    let last = one_bar(&iopub);
    assert!(last.starts_with("100%") && last.contains("6/6"), "{last}");
}
