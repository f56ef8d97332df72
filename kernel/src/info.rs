//! What the kernel says about itself in `kernel_info_reply`.

use ferrokernel_protocol::{
    HelpLink, KernelInfoReply, LanguageInfo, PROTOCOL_VERSION, ReplyStatus,
};
use std::sync::OnceLock;

/// The kernel's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

static RUSTC_VERSION: OnceLock<String> = OnceLock::new();

/// The version of the `rustc` that compiles cells, e.g. `1.95.0` (asked once).
pub fn rustc_version() -> &'static str {
    RUSTC_VERSION.get_or_init(|| {
        let output = std::process::Command::new("rustc")
            .arg("--version")
            .output();
        output
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|text| text.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    })
}

/// Starts asking `rustc` for its version in the background, so that the first
/// `kernel_info_request` does not wait for it.
pub fn warm_up() {
    std::thread::spawn(|| {
        rustc_version();
    });
}

/// The `kernel_info_reply` content.
pub fn kernel_info() -> KernelInfoReply {
    // The frontend's debugger works when lldb-dap is there to drive.
    let debugger = crate::debugger::find_adapter().is_some();
    KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: PROTOCOL_VERSION.to_owned(),
        implementation: "ferrokernel".to_owned(),
        implementation_version: VERSION.to_owned(),
        language_info: LanguageInfo {
            name: "rust".to_owned(),
            version: rustc_version().to_owned(),
            mimetype: "text/rust".to_owned(),
            file_extension: ".rs".to_owned(),
            pygments_lexer: "rust".to_owned(),
            codemirror_mode: "rust".to_owned(),
            nbconvert_exporter: "script".to_owned(),
        },
        banner: format!(
            "ferrokernel {VERSION}: Rust (rustc {}) in Jupyter, with `multiprocessing`, \
             `threading` and `os` ready in every cell.",
            rustc_version()
        ),
        help_links: vec![
            HelpLink {
                text: "Rust standard library".to_owned(),
                url: "https://doc.rust-lang.org/std/".to_owned(),
            },
            HelpLink {
                text: "ferrokernel prelude".to_owned(),
                url: "https://docs.rs/ferrokernel-prelude".to_owned(),
            },
            HelpLink {
                text: "evcxr commands (:dep, :vars, ...)".to_owned(),
                url: "https://github.com/evcxr/evcxr/blob/main/COMMON.md".to_owned(),
            },
        ],
        debugger,
        supported_features: supported_features(debugger),
    }
}

fn supported_features(debugger: bool) -> Vec<String> {
    let mut features = vec!["kernel subshells".to_owned()];
    if debugger {
        features.push("debugger".to_owned());
    }
    features
}
