//! `dq-gateway [--config FILE]`: reads the configuration, wires the parts, serves until
//! SIGTERM or ctrl-c.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use dq_core::{DelayQueue, Registry, Workers};
use dq_gateway::{AppState, GatewayConfig, app, config::EMBEDDED, run, sync_registry};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    version,
    about = "dq's HTTP gateway: delay queue, topic registry, workers"
)]
struct Args {
    /// TOML configuration; without it the built-in defaults (see `--print-config`).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Log lines as text or as JSON objects.
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Print the built-in default configuration (a commented TOML file) and exit.
    #[arg(long)]
    print_config: bool,
    /// Serve HTTP only; deliveries are left to other gateways.
    #[arg(long, conflicts_with = "workers_only")]
    no_workers: bool,
    /// Run the workers only, without the HTTP listener.
    #[arg(long)]
    workers_only: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_config {
        print!("{EMBEDDED}");
        return ExitCode::SUCCESS;
    }
    let _log_writer = init_logging(args.log_format);
    let config = match load_config(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("dq-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dq-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dq-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &Args) -> Result<GatewayConfig, String> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            GatewayConfig::from_toml(&text, &path.display().to_string())?
        }
        None => GatewayConfig::from_toml(EMBEDDED, "built-in defaults")?,
    };
    config.apply_env(|name| std::env::var(name).ok())?;
    Ok(config)
}

async fn serve(config: GatewayConfig, args: &Args) -> Result<(), String> {
    let queue = Arc::new(DelayQueue::new(&config.queue).map_err(|e| e.to_string())?);
    let registry = Arc::new(Registry::new(queue.clone()));
    if let Err(e) = registry.declare(config.topics.clone()).await {
        tracing::warn!(error = %e, "could not publish the topic registry yet; retrying in the background");
    }
    tokio::spawn(sync_registry(
        registry.clone(),
        config.registry_sync_interval,
    ));
    let state = AppState::new(queue.clone(), registry.clone(), &config);
    tokio::spawn(state.log_activity(config.log_summary_interval));
    let producer = state.producer.clone();

    // One signal stops both the HTTP listener and the workers.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    // Bind first: a gateway that cannot listen must not have started leasing messages.
    let listener = if args.workers_only {
        None
    } else {
        Some(
            TcpListener::bind(&config.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?,
        )
    };
    let workers = if args.no_workers {
        None
    } else {
        Some(
            Workers::start(
                queue,
                registry.clone(),
                config.workers.clone(),
                state.observer(),
            )
            .map_err(|e| e.to_string())?,
        )
    };
    let mut stopped = stopped;
    match listener {
        None => {
            tracing::info!(
                topics = registry.list().len(),
                "dq-gateway running workers only (no HTTP listener)"
            );
            let _ = stopped.wait_for(|s| *s).await;
        }
        Some(listener) => {
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            let servers: Vec<&str> = config
                .queue
                .redis
                .iter()
                .map(|s| s.display.as_str())
                .collect();
            tracing::info!(
                redis = %servers.join(","),
                prefix = %config.queue.prefix,
                topics = registry.list().len(),
                auth = config.token.is_some(),
                workers = workers.is_some(),
                "dq-gateway listening on http://{address}"
            );
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            run(
                listener,
                app(state, config.request_limit),
                shutdown,
                config.shutdown_timeout,
            )
            .await
            .map_err(|e| e.to_string())?;
        }
    }
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    producer.close().await;
    tracing::info!("dq-gateway stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c: stopping"),
        () = terminate => tracing::info!("SIGTERM: stopping"),
    }
}

/// Logs go to stderr through a background writer, so a request never waits for the terminal
/// or the log collector. The returned guard flushes what is left when `main` ends.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = dq_gateway::logging::filter(std::env::var("DQ_LOG").ok().as_deref());
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}
