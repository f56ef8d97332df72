//! The `ferrokernel` command: the kernel Jupyter launches, and the tools around it.

use clap::{Args, Parser, Subcommand};
use cli_error::CliError;
use ferrokernel::install::{self, Location};
use ferrokernel::notebook;
use ferrokernel_engine::conversation::{EngineEnv, InProcessSource, StartEngine};
use ferrokernel_engine::{Engine, EngineOptions, EvcxrEngine, PrepareError, Prepared, Workdir};
use ferrokernel_pool::client::HostSource;

mod cli_error;
mod pool;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "ferrokernel",
    version,
    about = "A Jupyter kernel for Rust, with Python's multiprocessing vocabulary built in"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the kernel (this is what Jupyter launches).
    Kernel {
        /// The connection file Jupyter wrote.
        #[arg(long, short = 'f')]
        connection_file: PathBuf,
        /// Start an engine of our own instead of taking a warm one from the
        /// engine pool (also: FERROKERNEL_POOL=0).
        #[arg(long)]
        no_pool: bool,
    },
    /// The per-user pool that keeps a warm engine ready for the next kernel.
    Pool {
        #[command(subcommand)]
        command: PoolCommand,
    },
    /// Run a notebook cluster's worker (started on each host by mpirun or srun).
    #[command(hide = true)]
    ClusterWorker,
    /// Serve one kernel's engine on inherited descriptors (started by kernels and the pool).
    #[command(hide = true)]
    EngineHost {
        /// Started by the pool: die with it until a kernel claims us.
        #[arg(long)]
        pooled: bool,
    },
    /// Install the kernelspec so Jupyter lists "Rust (ferrokernel)", and warm the build cache.
    Install {
        #[command(flatten)]
        location: LocationArgs,
        /// Kernelspec name (what notebooks refer to).
        #[arg(long, default_value = install::DEFAULT_NAME)]
        name: String,
        /// Name shown in the launcher.
        #[arg(long, default_value = install::DEFAULT_DISPLAY_NAME)]
        display_name: String,
        /// Do not build the prelude now (the first notebook will).
        #[arg(long)]
        no_warm: bool,
        /// Do not record the toolchain found now in the kernelspec: kernels use
        /// whatever `cargo` the launcher's PATH finds.
        #[arg(long)]
        no_pin_toolchain: bool,
        /// Kernels start their own engine (the kernelspec says `--no-pool`), and
        /// no engine pool is started now.
        #[arg(long)]
        no_pool: bool,
    },
    /// Check the set-up: toolchain, rust-src, cache, kernelspecs, linker, engine pool.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run notebooks top to bottom through the engine (no Jupyter needed), printing each cell's outputs.
    Run {
        /// Notebooks, or directories of notebooks.
        #[arg(required = true)]
        notebooks: Vec<PathBuf>,
        /// Write the outputs back into each notebook.
        #[arg(long, conflicts_with = "output")]
        inplace: bool,
        /// Write the executed notebook here (a directory when running several).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Interrupt a cell that runs longer than this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Print only the progress lines, not the outputs.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Re-run notebooks and compare every cell's outputs with the stored ones, like nbval.
    Test {
        /// Notebooks, or directories of notebooks.
        #[arg(required = true)]
        notebooks: Vec<PathBuf>,
        /// nbval sanitize file (regex:/replace: pairs); default: sanitize.cfg beside each notebook.
        #[arg(long, value_name = "FILE")]
        sanitize_with: Option<PathBuf>,
        /// Compare only cells tagged nbval-check-output (nbval's --nbval-lax).
        #[arg(long)]
        lax: bool,
        /// Interrupt a cell that runs longer than this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
    },
    /// Remove the kernelspec.
    Uninstall {
        #[command(flatten)]
        location: LocationArgs,
        /// Kernelspec name.
        #[arg(long, default_value = install::DEFAULT_NAME)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum PoolCommand {
    /// Run the pool (kernels start it when it is not running).
    Serve {
        /// Return once it listens, leaving it running in the background.
        #[arg(long)]
        daemon: bool,
    },
    /// Show whether a pool runs, its spare engine and the engines in use.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the pool and its spare engine (engines in use stay with their kernels).
    Stop,
}

#[derive(Debug, Args)]
#[group(multiple = false)]
struct LocationArgs {
    /// Install for the current user (~/.local/share/jupyter).
    #[arg(long)]
    user: bool,
    /// Install into the active Python environment ($VIRTUAL_ENV or python3's sys.prefix).
    #[arg(long)]
    sys_prefix: bool,
    /// Install into PREFIX/share/jupyter.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<PathBuf>,
}

impl LocationArgs {
    fn location(&self) -> Location {
        match (self.user, self.sys_prefix, &self.prefix) {
            (true, _, _) => Location::User,
            (_, true, _) => Location::SysPrefix,
            (_, _, Some(prefix)) => Location::Prefix(prefix.clone()),
            _ => Location::System,
        }
    }
}

fn main() -> ExitCode {
    // In the runtime and compiler-wrapper processes evcxr starts, this never returns.
    ferrokernel_engine::runtime::hook();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Kernel {
            connection_file,
            no_pool,
        } => kernel(&connection_file, no_pool),
        Command::Pool { command } => pool::command(command),
        Command::ClusterWorker => {
            return ExitCode::from(ferrokernel_prelude::cluster::worker::main().clamp(0, 255) as u8);
        }
        Command::EngineHost { pooled } => engine_host(pooled),
        Command::Install {
            location,
            name,
            display_name,
            no_warm,
            no_pin_toolchain,
            no_pool,
        } => install_kernelspec(
            &location.location(),
            &name,
            &display_name,
            &InstallChoices {
                warm: !no_warm,
                pin_toolchain: !no_pin_toolchain,
                no_pool,
            },
        ),
        Command::Doctor { json } => ferrokernel::doctor::run(json).map_err(CliError::from),
        Command::Run {
            notebooks,
            inplace,
            output,
            timeout,
            quiet,
        } => {
            let write = match (inplace, output) {
                (true, _) => notebook::commands::Write::InPlace,
                (false, Some(path)) => notebook::commands::Write::To(path),
                (false, None) => notebook::commands::Write::No,
            };
            let notebooks =
                notebook::commands::plan_run(&notebooks, &write).map_err(CliError::from);
            notebooks.and_then(|notebooks| {
                let mut runner = notebook_runner(!quiet)?;
                let ok = notebook::commands::run(&mut runner, &notebooks, &write, seconds(timeout));
                runner.shutdown();
                match ok? {
                    true => Ok(()),
                    false => Err(CliError::CellFailed),
                }
            })
        }
        Command::Test {
            notebooks,
            sanitize_with,
            lax,
            timeout,
        } => {
            let options = notebook::commands::TestOptions {
                lax,
                timeout: seconds(timeout),
                sanitize_with,
            };
            let notebooks = notebook::commands::expand(&notebooks).map_err(CliError::from);
            notebooks.and_then(|notebooks| {
                let mut runner = notebook_runner(false)?;
                let tally = notebook::commands::test(&mut runner, &notebooks, &options);
                runner.shutdown();
                match tally? {
                    tally if tally.failed == 0 => Ok(()),
                    tally => Err(CliError::CellsFailed {
                        failed: tally.failed,
                        total: tally.failed + tally.passed,
                    }),
                }
            })
        }
        Command::Uninstall { location, name } => install::uninstall(&location.location(), &name)
            .map(|dir| println!("Removed {}", dir.display()))
            .map_err(CliError::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferrokernel: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prepares evcxr's environment; must run while the process has one thread.
fn prepare_engine() -> Result<Prepared, PrepareError> {
    let cache_root = Workdir::default_cache_root();
    // SAFETY: called from `main` before any thread is started.
    unsafe { ferrokernel_engine::prepare_environment(&cache_root) }
}

/// The kernel: its cells run in an engine host, warm from the pool or started now.
fn kernel(connection_file: &Path, no_pool: bool) -> Result<(), CliError> {
    // SAFETY: before any thread starts.
    unsafe { ferrokernel::pin::apply_pinned_path() };
    let connection = ferrokernel_protocol::ConnectionInfo::from_file(connection_file)?;
    let source = HostSource::for_this_kernel(no_pool)?;
    ferrokernel::info::warm_up();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let env = source.env.clone();
    runtime
        .block_on(ferrokernel::transport::serve(
            &connection,
            Box::new(source),
            env,
        ))
        .map(drop)
        .map_err(CliError::from)
}

/// `FERROKERNEL_FAKE_ENGINE=MS`: the scripted engine of the tests, which takes
/// MS milliseconds to start, instead of evcxr.
fn fake_engine() -> Option<StartEngine> {
    let start_ms = std::env::var("FERROKERNEL_FAKE_ENGINE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())?;
    Some(Box::new(move |publisher, progress| {
        progress("starting the fake engine");
        // The start time the test asked for.
        std::thread::sleep(std::time::Duration::from_millis(start_ms));
        Ok(Box::new(ferrokernel_engine::fake::FakeEngine::new(publisher)) as Box<dyn Engine>)
    }))
}

/// The evcxr engine; prepares the environment at once, so call it before
/// any thread starts.
fn evcxr_engine() -> StartEngine {
    let prepared = prepare_engine();
    Box::new(move |publisher, progress| {
        let engine = EvcxrEngine::start(publisher, prepared?, &engine_options(), progress)?;
        Ok(Box::new(engine) as Box<dyn Engine>)
    })
}

/// The engine host: serves one kernel's engine over the socket it inherited.
/// `pooled`: started by the pool as a spare.
fn engine_host(pooled: bool) -> Result<(), CliError> {
    let start = fake_engine().unwrap_or_else(evcxr_engine);
    ferrokernel_pool::host::serve_inherited(start, pooled)
}

fn seconds(value: Option<f64>) -> Option<std::time::Duration> {
    value
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(std::time::Duration::from_secs_f64)
}

/// The engine for `run` and `test`, in this process. Must start while the
/// process has one thread.
fn notebook_runner(echo: bool) -> Result<notebook::run::Runner, CliError> {
    let start = fake_engine().unwrap_or_else(evcxr_engine);
    eprintln!("Starting the Rust engine...");
    let runner = notebook::run::Runner::start(Box::new(InProcessSource::new(start)), echo);
    runner.wait_until_started()?;
    Ok(runner)
}

/// Engine options; `FERROKERNEL_PRELUDE=0` starts a plain Rust kernel without the prelude.
fn engine_options() -> EngineOptions {
    EngineOptions {
        prelude: std::env::var("FERROKERNEL_PRELUDE").map_or(true, |v| v != "0"),
        ..EngineOptions::default()
    }
}

/// What `install` was asked to do besides writing the kernelspec.
struct InstallChoices {
    warm: bool,
    pin_toolchain: bool,
    no_pool: bool,
}

fn install_kernelspec(
    location: &Location,
    name: &str,
    display_name: &str,
    choices: &InstallChoices,
) -> Result<(), CliError> {
    let toolchain = install::ToolchainPin::find(choices.pin_toolchain)?;
    // The warm-up and the pool then run with what kernels will have.
    // SAFETY: single-threaded still (probing only ran child processes).
    unsafe { toolchain.apply_to_this_process() };
    let kernel_env = EngineEnv::current();
    // Prepare first: it must happen before any thread starts.
    let start = choices.warm.then(evcxr_engine);
    let options = install::SpecOptions {
        env: toolchain.vars.clone(),
        no_pool: choices.no_pool,
    };
    let dir = install::install(location, name, display_name, &options)?;
    println!("Installed kernelspec {name} in {}", dir.display());
    print!("{}", toolchain.describe());
    let Some(start) = start else {
        return Ok(());
    };
    println!("Building the prelude so the first notebook starts fast...");
    let started = std::time::Instant::now();
    let mut runner = notebook::run::Runner::start(Box::new(InProcessSource::new(start)), true);
    runner.wait_until_started()?;
    let warm = runner.run_cell("let warm = multiprocessing::cpu_count(); warm", None);
    runner.shutdown();
    if let Some(error) = warm.error {
        return Err(CliError::WarmUp(error));
    }
    println!("Ready in {:.1} s.", started.elapsed().as_secs_f64());
    if !choices.no_pool {
        println!("{}", install::start_pool(&kernel_env));
    }
    Ok(())
}
