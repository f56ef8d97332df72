//! The warm-up: what a spare engine evaluates before any kernel claims it, so
//! the first cell of a notebook does not pay for rust-analyzer's and evcxr's
//! first-time work.

use super::EvcxrEngine;

impl EvcxrEngine {
    /// Evaluates and completes a throw-away cell.
    pub(super) fn warm_up_context(&mut self) {
        // The first untyped `let` has rust-analyzer infer the standard
        // library's types (seconds); the first top-level `?` makes evcxr retry
        // once. The value is moved away, so no variable is left behind.
        let value = if self.context_setup.contains("multiprocessing") {
            "(multiprocessing::cpu_count(), String::new())"
        } else {
            "String::new()"
        };
        let cell = format!(
            "let ferrokernel_warm_up = {value}; drop(ferrokernel_warm_up); Ok::<(), String>(())?;"
        );
        if let Err(error) = self.setup(&cell) {
            tracing::warn!(%error, "the warm-up cell failed");
        }
        let code = "let ferrokernel_warm_up = String::new(); ferrokernel_warm_up.";
        let _ = self.context.completions(code, code.len());
        let _ = self.context.hover_at(code, code.len() - 1);
    }
}
