//! Noticing that the process that started the kernel is gone.
//!
//! jupyter_client names its own process in `JPY_PARENT_PID` when it starts a
//! kernel. If that process dies (a killed Jupyter server, a crashed script
//! driving the kernel), nobody will ever ask the kernel to shut down, so it
//! must notice by itself — as ipykernel's parent poller does — and end with
//! everything it started.

use std::time::Duration;

/// How often the parent is looked at: an orphaned kernel ends within a
/// second, and each look is cheap.
const POLL: Duration = Duration::from_secs(1);

/// Resolves when the parent named in `JPY_PARENT_PID` has gone (or our own
/// parent changed: we were re-parented to an init process); never resolves
/// when the variable is not set.
pub async fn orphaned() {
    let named = std::env::var("JPY_PARENT_PID")
        .ok()
        .and_then(|pid| pid.trim().parse::<i32>().ok())
        .filter(|pid| *pid > 1);
    let Some(named) = named else {
        return std::future::pending().await;
    };
    let original = nix::unistd::getppid();
    loop {
        tokio::time::sleep(POLL).await;
        let reparented = nix::unistd::getppid() != original;
        if reparented || ferrokernel_engine::procs::exited(named) {
            tracing::warn!(
                parent = named,
                "the kernel's parent process is gone; shutting down"
            );
            return;
        }
    }
}
