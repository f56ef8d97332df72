//! `ferrokernel pool serve|status|stop`.

use super::PoolCommand;
use crate::cli_error::CliError;
use ferrokernel_pool::client;
use ferrokernel_pool::messages::PoolStatus;
use ferrokernel_pool::place::Place;
use ferrokernel_pool::server::{self, ServerError, ServerOptions};

pub(super) fn command(command: PoolCommand) -> Result<(), CliError> {
    let place = Place::for_this_build()?;
    match command {
        PoolCommand::Serve { daemon } => serve(&place, daemon),
        PoolCommand::Status { json } => match client::status(&place) {
            Ok(status) if json => {
                println!("{}", serde_json::to_string_pretty(&status)?);
                Ok(())
            }
            Ok(status) => {
                print!("{}", describe(&status));
                Ok(())
            }
            Err(client::PoolError::NotRunning(socket)) => {
                if json {
                    println!("null");
                } else {
                    println!(
                        "No engine pool runs (it would listen at {}).",
                        socket.display()
                    );
                }
                Ok(())
            }
            Err(error) => Err(error.into()),
        },
        PoolCommand::Stop => match client::stop(&place) {
            Ok(()) => {
                println!("Stopped the engine pool.");
                Ok(())
            }
            Err(client::PoolError::NotRunning(_)) => {
                println!("No engine pool runs.");
                Ok(())
            }
            Err(error) => Err(error.into()),
        },
    }
}

fn serve(place: &Place, daemon: bool) -> Result<(), CliError> {
    // Taken before daemonizing: the first spare gets the caller's environment
    // and directory.
    let options = ServerOptions::for_this_process().map_err(CliError::ServerOptions)?;
    let listening = match server::listen(place) {
        Ok(listening) => listening,
        // Someone else started it first: as good as done.
        Err(ServerError::AlreadyRunning(_)) if daemon => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    if daemon {
        daemonize(place)?;
    }
    listening.serve(options);
    Ok(())
}

/// Leaves the caller: the parent returns at once (the socket already listens);
/// the child, in a session of its own, logs to the pool's log file and goes on.
fn daemonize(place: &Place) -> Result<(), CliError> {
    use nix::unistd::{ForkResult, fork, setsid};
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&place.log)
        .map_err(|source| CliError::Log {
            path: place.log.clone(),
            source,
        })?;
    // SAFETY: called from `main` before any thread is started, so the child
    // may run arbitrary code.
    match unsafe { fork() }.map_err(CliError::Fork)? {
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => {
            let _ = setsid();
            let _ = nix::unistd::dup2_stderr(&log);
            if let Ok(null) = std::fs::File::open("/dev/null") {
                let _ = nix::unistd::dup2_stdin(&null);
                let _ = nix::unistd::dup2_stdout(&null);
            }
            // Hold no directory busy.
            let _ = std::env::set_current_dir("/");
            Ok(())
        }
    }
}

fn describe(status: &PoolStatus) -> String {
    let spare = match &status.spare {
        Some(spare) if spare.ready => format!(
            "ready (pid {}, made {:.0} s ago)",
            spare.pid, spare.age_secs
        ),
        Some(spare) => format!("starting (pid {}, for {:.0} s)", spare.pid, spare.age_secs),
        None => "none".to_owned(),
    };
    format!(
        "Engine pool: running (pid {}), up {:.0} s, socket {}\n\
         Spare engine: {spare} ({} kept of {}, {} ready; {} given back by kernels since it started)\n\
         Engines in use: {} ({} handed out since it started)\n\
         Ends after {:.0} s without requests or engines in use (idle for {:.0} s).\n",
        status.pid,
        status.uptime_secs,
        status.socket.display(),
        status.spares,
        status.spares_wanted,
        status.ready_spares,
        status.given_back,
        status.engines_in_use,
        status.handed_out,
        status.idle_limit_secs,
        status.idle_secs,
    )
}
