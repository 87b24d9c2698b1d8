//! `nodecell`: run code once in a sandbox, or check what this host enforces.
//!
//! Exit status of `run`: 0 when the outcome's status is ok, 1 for any other status, 2 for
//! bad usage or bad input, 3 when the host could not run the code at all, 128 + the signal
//! when SIGTERM or SIGINT stopped it (its sandbox killed and removed first).
#![forbid(unsafe_code)]

mod init;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use nodecell::{
    Discovery, Engine, EngineConfig, ExecRequest, JsonError, JsonObject, LimitOverrides, Mode,
    ModuleLoading, Prelaunch, Profile, Status,
};

#[derive(Parser)]
#[command(
    name = "nodecell",
    version,
    about = "Run untrusted JavaScript in sandboxed Node.js"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run FILE (or standard input) once and print the outcome as JSON.
    Run {
        /// The code; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// Inputs, a JSON object.
        #[arg(long, conflicts_with = "inputs_file")]
        inputs: Option<String>,
        /// A file holding the inputs, a JSON object.
        #[arg(long)]
        inputs_file: Option<PathBuf>,
        #[arg(long)]
        timeout_ms: Option<u64>,
        #[arg(long)]
        memory_mib: Option<u64>,
        #[arg(long)]
        backend: Option<String>,
        /// `node` (the default) or `avs` (EigenLayer-AVS's exact semantics; docs/avs.md).
        #[arg(long, value_parser = parse_profile)]
        profile: Option<Profile>,
        /// What FILE holds: `code` (a program, the default), `expression`, `template` or `filter`.
        #[arg(long, value_parser = parse_mode)]
        mode: Option<Mode>,
    },
    /// Serve HTTP and gRPC over a warm pool until SIGTERM/SIGINT (exit 64 on bad configuration).
    ///
    /// Every setting comes from its default, then the TOML file (--config), then its
    /// NODECELL_* variable, then its flag (docs/configuration.md).
    Serve {
        /// A TOML configuration file.
        #[arg(long, env = "NODECELL_CONFIG")]
        config: Option<PathBuf>,
        /// Logs on stderr as text (colour only on a terminal) or one JSON object a line;
        /// `NODECELL_LOG` filters them (default `info`).
        #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "NODECELL_LOG_FORMAT")]
        log_format: LogFormat,
    },
    /// Print what this host enforces for each backend; exit 0 when Node is supported and
    /// every backend shown is available, else 1.
    Check {
        #[arg(long)]
        json: bool,
        /// Only this backend (repeatable): the exit status then says whether the backends a
        /// deployment uses are available, whatever the others (firecracker needs hardware KVM).
        #[arg(long = "backend", value_name = "name")]
        backends: Vec<String>,
    },
    /// The sandbox image of the docker and gvisor backends.
    Image {
        #[command(subcommand)]
        action: ImageAction,
    },
}

#[derive(Subcommand)]
enum ImageAction {
    /// Build it from the installed Node and runner if the Docker Engine (DOCKER_HOST, else
    /// /var/run/docker.sock) lacks it, remove older nodecell images, and print the result as
    /// JSON. Nothing is pulled.
    Build,
}

/// Prints a line on stdout; a reader that went away (a closed pipe) is not an error of ours.
fn print_line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|_| out.flush());
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("nodecell: {msg}");
    ExitCode::from(2)
}

fn engine(config: EngineConfig, discovery: Discovery) -> Result<Engine, ExitCode> {
    Engine::with_discovery(config, discovery).map_err(|e| {
        eprintln!("nodecell: cannot start the engine: {e}");
        ExitCode::from(3)
    })
}

fn read_request(
    file: Option<PathBuf>,
    inputs: Option<String>,
    inputs_file: Option<PathBuf>,
) -> Result<(String, JsonObject), String> {
    let code = match file {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?
        }
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("standard input: {e}"))?;
            s
        }
    };
    let inputs_text = match (inputs, inputs_file) {
        (Some(s), _) => Some(s),
        (None, Some(p)) => {
            Some(std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?)
        }
        (None, None) => None,
    };
    let inputs = match inputs_text {
        None => JsonObject::default(),
        Some(t) => JsonObject::parse(&t).map_err(|e| match e {
            JsonError::NotAnObject => "inputs must be a JSON object".to_string(),
            JsonError::Syntax(e) => format!("inputs are not valid JSON: {e}"),
            JsonError::TooDeep { .. } => format!("inputs are {e}"),
            JsonError::NumberOutOfRange(_) | JsonError::LoneSurrogate(_) => {
                format!("inputs: {e}")
            }
        })?,
    };
    Ok((code, inputs))
}

/// Exit status for bad configuration (sysexits EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn serve(config: Option<PathBuf>, overrides: nodecell_server::Overrides) -> ExitCode {
    let config = match nodecell_server::ServerConfig::load(
        config.as_deref(),
        |k| std::env::var(k).ok(),
        &overrides,
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nodecell: bad configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(nodecell_server::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(nodecell_server::ServeError::Config(e)) => {
            eprintln!("nodecell: bad configuration: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            eprintln!("nodecell: {e}");
            ExitCode::from(1)
        }
    }
}

/// The engine of `check` and `image`: the installation found next to this binary, the host
/// probed; tracing on.
fn probed_engine() -> Result<nodecell::Engine, ExitCode> {
    init_tracing();
    engine(
        EngineConfig::default().locate_installation(),
        Discovery::Probe,
    )
}

/// What `check` says of the Docker Engine of the docker and gvisor backends: where it
/// answers, its runtimes, and whether the sandbox image is there.
async fn docker_engine_line(engine: &nodecell::Engine) -> String {
    let socket = engine.config().backends.docker.socket.as_deref();
    let client = match nodecell::docker::DockerClient::connect(socket).await {
        Ok(c) => c,
        Err(e) => return format!("docker engine: {e}\n"),
    };
    let runtimes = nodecell::docker::EngineFacts::probe(socket)
        .map(|f| {
            f.runtimes
                .iter()
                .map(|(name, args)| {
                    [name.clone()]
                        .into_iter()
                        .chain(args.clone())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let launcher = &engine.config().launcher_path;
    let image = match nodecell::docker::image::reference_of(engine.layout(), launcher).await {
        Ok(reference) => match nodecell::docker::image::present(&client, &reference).await {
            Ok(true) => format!("{reference} present"),
            Ok(false) => format!(
                "{reference} missing (the first start builds it, or `nodecell image build`)"
            ),
            Err(e) => format!("{reference}: {e}"),
        },
        Err(e) => format!("cannot be made: {e}"),
    };
    format!(
        "docker engine at {}: runtimes {runtimes}; sandbox image {image}\n",
        client.at()
    )
}

/// What `check` says of backend native's zygote path (docs/architecture.md, "Zygotes"):
/// one sandbox is started to find out whether a zygote starts and forks here.
async fn zygote_line(engine: &nodecell::Engine) -> String {
    let native = match engine.backend("native") {
        Ok(b) if engine.report(b).available => b,
        _ => return "zygote: backend native is unavailable\n".into(),
    };
    if engine.zygote_fallback().is_none() {
        let limits = &engine.config().default_limits;
        match engine.start(native, limits, ModuleLoading::Eager).await {
            Ok(sandbox) => sandbox.discard().await,
            Err(e) => return format!("zygote: no sandbox started: {e}\n"),
        }
    }
    match engine.zygote_fallback() {
        None if engine.zygote_proven() => {
            "zygote: backend native forks its sandboxes from a zygote\n".into()
        }
        None => "zygote: not tried\n".into(),
        Some(why) => format!("zygote: backend native boots Node in each sandbox: {why}\n"),
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Cmd::Serve { .. } => unreachable!("serve runs on its own runtime"),
        Cmd::Check { json, backends } => {
            let engine = match probed_engine() {
                Ok(e) => e,
                Err(code) => return code,
            };
            let shown: Vec<_> = if backends.is_empty() {
                engine.backends().collect()
            } else {
                let mut shown = Vec::new();
                for name in &backends {
                    match engine.backend(name) {
                        Ok(b) if !shown.contains(&b) => shown.push(b),
                        Ok(_) => {}
                        Err(e) => return usage_error(e),
                    }
                }
                shown
            };
            let reports: Vec<_> = shown.iter().map(|&b| engine.report(b).clone()).collect();
            let shows = |name: &str| shown.iter().any(|b| b.as_str() == name);
            let node = engine.layout().supported_node_version();
            if json {
                if let Err(e) = &node {
                    eprintln!("nodecell: {e}");
                }
                print_line(&serde_json::to_string_pretty(&reports).expect("reports serialize"));
            } else {
                let mut text = match &node {
                    Ok(version) => {
                        format!("node {version} at {}\n", engine.layout().node.display())
                    }
                    Err(e) => format!("node: {e}\n"),
                };
                for r in &reports {
                    text.push_str(&r.to_string());
                }
                if shows("native") {
                    text.push_str(&zygote_line(&engine).await);
                }
                if shows("docker") || shows("gvisor") {
                    text.push_str(&docker_engine_line(&engine).await);
                }
                print_line(text.trim_end());
            }
            if node.is_ok() && reports.iter().all(|r| r.available) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Cmd::Image {
            action: ImageAction::Build,
        } => {
            let engine = match probed_engine() {
                Ok(e) => e,
                Err(code) => return code,
            };
            let built = async {
                let client = nodecell::docker::DockerClient::connect(None).await?;
                nodecell::docker::image::ensure(
                    &client,
                    engine.layout(),
                    &engine.config().launcher_path,
                )
                .await
            };
            match built.await {
                Ok(image) => {
                    print_line(
                        &serde_json::json!({
                            "reference": image.reference,
                            "built": image.built,
                            "removed": image.removed,
                        })
                        .to_string(),
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("nodecell: {e}");
                    ExitCode::from(3)
                }
            }
        }
        Cmd::Run {
            file,
            inputs,
            inputs_file,
            timeout_ms,
            memory_mib,
            backend,
            profile,
            mode,
        } => {
            // The backend's launcher starts first, before anything else here, and creates
            // the sandbox's namespaces while the request is read and the engine discovers
            // the host (a request found bad later just drops it).
            let mut config = EngineConfig::default().locate_installation();
            // One run boots Node once either way: a zygote would only add its own boot.
            config.backends.native.zygote = false;
            let name = backend.as_deref().unwrap_or(nodecell::backend::names()[0]);
            let prelaunch = Prelaunch::for_backend(&config, name).ok().flatten();
            // From here on SIGTERM and SIGINT drop the run, which kills its sandbox and
            // removes its cgroups and scratch directory, before the exit.
            let stopped = stop_signal();
            init_tracing();
            let (code, inputs) = match read_request(file, inputs, inputs_file) {
                Ok(r) => r,
                Err(msg) => return usage_error(msg),
            };
            let engine = match engine(config, Discovery::OneRun) {
                Ok(e) => e,
                Err(code) => return code,
            };
            let req = ExecRequest {
                code,
                inputs,
                limits: LimitOverrides {
                    timeout_ms,
                    memory_mib,
                    ..Default::default()
                },
                backend,
                profile,
                mode,
                ..Default::default()
            };
            let mut run = Box::pin(engine.run_prelaunched(&req, prelaunch));
            let ended = tokio::select! {
                r = &mut run => Ok(r),
                signal = stopped => Err(signal),
            };
            let result = match ended {
                Ok(r) => r,
                Err(signal) => {
                    // Dropping the run kills its sandbox and removes its cgroups. Before the
                    // exit, the sandbox's program is reaped, and every process that was
                    // below this one (a sandbox's init dies with its launcher, but not at
                    // once) is gone.
                    let me = std::process::id() as i32;
                    let below: Vec<i32> = nodecell::procfs::tree(me)
                        .into_iter()
                        .filter(|&p| p != me)
                        .collect();
                    drop(run);
                    let limit = std::time::Instant::now() + std::time::Duration::from_secs(5);
                    // A container sandbox is removed by its engine, asked just now.
                    nodecell::docker::container::settle(std::time::Duration::from_secs(5)).await;
                    reap_children(limit).await;
                    while below
                        .iter()
                        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
                        && std::time::Instant::now() < limit
                    {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    eprintln!("nodecell: stopped by signal {signal}; the sandbox was removed");
                    return ExitCode::from(128 + signal as u8);
                }
            };
            match result {
                Ok(outcome) => {
                    print_line(&serde_json::to_string(&outcome).expect("outcomes serialize"));
                    if outcome.status == Status::Ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) if e.is_bad_request() => usage_error(e),
                Err(e) => {
                    eprintln!("nodecell: {e}");
                    ExitCode::from(3)
                }
            }
        }
    }
}

/// Waits until this process has no children left, zombies included (at most until `limit`).
async fn reap_children(limit: std::time::Instant) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => return,
            Ok(WaitStatus::StillAlive) if std::time::Instant::now() < limit => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Resolves with the number of the first SIGTERM or SIGINT that arrives after this call.
fn stop_signal() -> impl std::future::Future<Output = i32> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => SignalKind::terminate().as_raw_value(),
                _ = int.recv() => SignalKind::interrupt().as_raw_value(),
            },
            // Without handlers the signals keep their default action.
            _ => std::future::pending().await,
        }
    }
}

/// Logs to stderr, filtered by `NODECELL_LOG`.
/// Logs on stderr: `NODECELL_LOG` filters (default: errors only, `serve`: info), colour only
/// on a terminal, as text or (`serve --log-format json`) one JSON object a line.
fn init_tracing() {
    init_logs("error", LogFormat::Text);
}

fn init_logs(default_filter: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("NODECELL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // A log line that cannot be written (stderr closed: a supervisor gone) is dropped; the
    // default would report it with eprintln!, which panics on the same closed stderr.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// How `serve` writes its logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::parse(s)?.ok_or_else(|| "empty profile (known: node, avs)".into())
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    Mode::parse(s)?.ok_or_else(|| "empty mode (known: code, expression, template, filter)".into())
}

/// `serve` with one flag for each setting of the service, its help made from the table
/// (`nodecell_server::settings`): what it means, its unit, its variable and its default.
fn with_setting_flags(cli: clap::Command) -> clap::Command {
    cli.mut_subcommand("serve", |mut serve| {
        let defaults = nodecell_server::ServerConfig::default();
        for s in nodecell_server::settings::settings() {
            let default = match (s.get)(&defaults) {
                d if d.is_empty() => "unset".to_string(),
                d => d,
            };
            let help = format!("{} [env: {}] [default: {default}]", s.help, s.env);
            serve = serve.arg(
                clap::Arg::new(s.flag)
                    .long(s.flag)
                    .value_name(s.unit)
                    .help(help),
            );
        }
        serve
    })
}

fn main() -> ExitCode {
    if let Some(code) = init::run_if_pid1() {
        return code;
    }
    let matches = with_setting_flags(Cli::command()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Cmd::Serve { config, log_format } = cli.command {
        let serve_matches = matches
            .subcommand_matches("serve")
            .expect("serve was given");
        let mut overrides = nodecell_server::Overrides::default();
        for s in nodecell_server::settings::settings() {
            if let Some(v) = serve_matches.get_one::<String>(s.flag) {
                overrides = overrides.with(s.flag, v.clone());
            }
        }
        init_logs("info", log_format);
        return serve(config, overrides);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run(cli))
}
