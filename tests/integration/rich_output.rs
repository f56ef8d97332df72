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

#[tokio::test]
async fn the_timeline_renders_as_a_result_and_progress_follows_a_pool() {
    let mut kernel = Kernel::start(&[]).await;
    kernel.execute("1").await;
    // The recording calls join Process and Pool with the prelude-parity work;
    // until then the chart is empty, but it travels as a chart with text.
    let (iopub, reply) = kernel.execute("multiprocessing::timeline()").await;
    assert_eq!(reply.status, ReplyStatus::Ok);
    let result = iopub.iter().find_map(|m| match &m.content {
        Content::ExecuteResult(r) => Some(r.data.clone()),
        _ => None,
    });
    let result = result.expect("the timeline is the cell's result");
    let svg = result["image/svg+xml"].as_str().unwrap_or_default();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    assert!(
        result["text/plain"]
            .as_str()
            .is_some_and(|t| t.starts_with("0 processes")),
        "{result:?}"
    );

    // A pool's imap, with its total given (its length is not known ahead).
    let (iopub, reply) = kernel
        .execute(
            "let pool = multiprocessing::Pool::with_processes(2)?;\n\
             let squares: Vec<u64> = progress(pool.imap(|x: u64| x * x, 0..40u64)?)\n\
             .total(40).collect::<Result<_, _>>()?;\n\
             squares.len()",
        )
        .await;
    assert_eq!(reply.status, ReplyStatus::Ok, "{:?}", shown(&iopub));
    assert_eq!(result_text(&iopub).as_deref(), Some("40"));
    let bars = bar_messages(&iopub);
    let last = &bars.last().expect("a progress bar").2;
    assert!(last.starts_with("100%") && last.contains("40/40"), "{last}");
}
