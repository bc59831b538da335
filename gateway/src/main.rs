//! `dq-gateway [--config FILE]`: reads the configuration, wires the parts, serves until
//! SIGTERM or ctrl-c; SIGHUP reloads the configuration.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use dq_core::{DelayQueue, ErrorKind, Registry, Workers};
use dq_gateway::reload::{Reloader, SetLogFilter};
use dq_gateway::{AppState, GatewayConfig, config::EMBEDDED, run};

#[derive(Parser)]
#[command(
    version,
    about = "dq's HTTP gateway: delay queue, topic registry, workers",
    after_help = "\
Environment (overrides the configuration file):
  DQ_LISTEN  HTTP address to listen on (default 127.0.0.1:8088)
  DQ_REDIS   Redis URL; several, comma-separated, are shards (default redis://127.0.0.1:6379/0);
             redis+cluster://host:port,host:port[/?partitions=N] is a Redis Cluster
  DQ_REPLICAS  replicas that must confirm each add (WAIT) before it is acknowledged (default 0)
  DQ_AMQP    RabbitMQ URL (default amqp://guest:guest@127.0.0.1:5672/%2f); several,
             comma-separated, are the nodes of one cluster, tried in turn
  DQ_AMQP_QUEUE_TYPE  classic or quorum: the kind of queue dq declares for itself (default classic)
  DQ_MYSQL   MySQL/MariaDB URL of dq's database: the XA decision log (default none; empty: none)
  DQ_PREFIX  namespace of every Redis key and AMQP object (default dq)
  DQ_TOKEN   bearer token every route but /healthz requires (default none; empty: none)
  DQ_LOG     log filter, e.g. info or dq_gateway=debug (default: `log` in the file, else info)

Signals: SIGTERM or ctrl-c stop (requests and deliveries under way finish within
shutdown_timeout); SIGHUP reads the configuration file again (topics, [workers], token,
timezone and log change at once; the log names what needs a restart)."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML configuration; without it the built-in defaults (see `--print-config`).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<std::path::PathBuf>,
    /// Log lines as text or as JSON objects.
    #[arg(long, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Print the built-in default configuration (a commented TOML file) and exit.
    #[arg(long)]
    print_config: bool,
    /// Serve HTTP only; deliveries, XA recovery, outbox relays and subscriptions are left to
    /// other gateways.
    #[arg(long, conflicts_with = "workers_only")]
    no_workers: bool,
    /// Run the workers only, without the HTTP listener.
    #[arg(long)]
    workers_only: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Create or update dq's tables, then exit: dq's own in `mysql` (the database is created
    /// when missing), dq_outbox and dq_inbox in each database of `[outbox] databases`.
    /// Versioned and idempotent: run it at every deploy. Never inside an application's
    /// transaction (DDL commits implicitly).
    Migrate,
    /// Import php-delayqueue's topics (its `dq_topic` rows) into this gateway's registry (Redis,
    /// and `mysql` when set), then exit. Prints each topic imported and each row that could
    /// not be, with why; and its `dq_alert` SMTP settings. Safe to run again: a topic is
    /// replaced by the row's definition.
    ImportDelayqueue {
        /// php-delayqueue's database: mysql://user:pass@host:3306/dq
        url: String,
    },
    /// Send one test mail through `[alerts]` (to its `to`), then exit: 0 when the SMTP server
    /// accepted it, 1 with the server's answer when not.
    AlertTest,
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
    let config = match GatewayConfig::load(args.config.as_deref(), |name| std::env::var(name).ok())
    {
        Ok(config) => config,
        Err(e) => {
            eprintln!("dq-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    let (_log_writer, set_log) = init_logging(args.log_format, &config.log);
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
    match &args.command {
        Some(Command::Migrate) => {
            return match runtime.block_on(migrate(&config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("dq-gateway migrate: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::ImportDelayqueue { url }) => {
            return match runtime.block_on(import_delayqueue(&config, url)) {
                Ok(true) => ExitCode::SUCCESS,
                // Some rows could not be imported: said above, row by row.
                Ok(false) => ExitCode::from(3),
                Err(e) => {
                    eprintln!("dq-gateway import-delayqueue: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::AlertTest) => {
            let Some(alerts) = &config.alerts else {
                eprintln!(
                    "dq-gateway alert-test: [alerts] is not set: give smtp, from and to in the config file"
                );
                return ExitCode::from(2);
            };
            let sent = runtime.block_on(dq_core::alert::Alerts::send_now(
                alerts,
                "test alert",
                "This is a test alert sent by `dq-gateway alert-test`: alerts reach you.\n",
            ));
            return match sent {
                Ok(()) => {
                    println!(
                        "sent a test alert through {} to {}",
                        alerts.smtp,
                        alerts
                            .to
                            .iter()
                            .map(|m| m.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dq-gateway alert-test: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        None => {}
    }
    match runtime.block_on(serve(config, &args, set_log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("dq-gateway: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("dq-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `dq-gateway migrate`: dq's tables in `mysql` and in the databases of `[outbox] databases`,
/// one line per database on stdout.
async fn migrate(config: &GatewayConfig) -> Result<(), String> {
    use dq_core::mysql::{APPLICATION, OWN};
    let mut targets = Vec::new();
    if let Some(mysql) = &config.mysql {
        targets.push(("mysql".to_string(), mysql.clone(), &OWN));
    }
    for name in &config.outbox.databases {
        let url = config.databases.url(name).map_err(|e| e.to_string())?;
        targets.push((format!("databases.{name}"), url.clone(), &APPLICATION));
    }
    if targets.is_empty() {
        return Err(
            "nothing to migrate: set `mysql` (dq's own database) or [outbox] databases".into(),
        );
    }
    let timeout = config.queue.timeout.max(std::time::Duration::from_secs(10));
    for (what, url, migrations) in targets {
        let applied = migrations
            .apply(&url, timeout)
            .await
            .map_err(|e| format!("{what} ({url}): {e}"))?;
        if applied.is_empty() {
            println!("{what} ({url}): up to date");
        } else {
            println!("{what} ({url}): applied {}", applied.join(", "));
        }
    }
    Ok(())
}

/// `dq-gateway import-delayqueue URL`: php-delayqueue's topics into the registry, a line per
/// topic and per row refused on stdout. `Ok(false)` when some row was refused.
async fn import_delayqueue(config: &GatewayConfig, url: &str) -> Result<bool, String> {
    use dq_core::mysql::MysqlUrl;
    let source = MysqlUrl::parse("php-delayqueue's database", url).map_err(|e| e.to_string())?;
    let timeout = config.queue.timeout.max(std::time::Duration::from_secs(10));
    let import = dq_core::read_delayqueue(&source, timeout)
        .await
        .map_err(|e| e.to_string())?;
    let queue = Arc::new(DelayQueue::new(&config.queue).map_err(|e| e.to_string())?);
    let registry = dq_gateway::with_record(Registry::new(queue), config);
    let mut imported = 0;
    for row in &import.topics {
        let topic = &row.topic;
        match registry.put(topic.clone()).await {
            Ok(_) => {
                imported += 1;
                println!(
                    "imported  {} (row {}{}): {} {} delay {} s, timeout {} ms, {:?}{}",
                    topic.name,
                    row.row,
                    if row.title.is_empty() {
                        String::new()
                    } else {
                        format!(", \"{}\"", row.title)
                    },
                    if topic.method == dq_core::Method::Get {
                        "GET"
                    } else {
                        "POST"
                    },
                    topic.callback,
                    topic.delay,
                    topic.timeout_ms,
                    topic.status,
                    match (topic.alert_email.is_empty(), row.bad_email.is_empty()) {
                        (true, true) => String::new(),
                        (false, true) => format!(", alert e-mail {}", topic.alert_email.join(", ")),
                        (_, false) => format!(
                            ", alert e-mail {}; left out, not addresses: {}",
                            if topic.alert_email.is_empty() {
                                "none".to_string()
                            } else {
                                topic.alert_email.join(", ")
                            },
                            row.bad_email.join(", ")
                        ),
                    },
                );
            }
            Err(e) => println!("not imported {} (row {}): {e}", topic.name, row.row),
        }
    }
    for (row, name, why) in &import.refused {
        println!(
            "not imported {} (row {row}): {why}",
            if name.is_empty() { "(no topic)" } else { name }
        );
    }
    if let Some(smtp) = &import.smtp {
        println!(
            "dq_alert: SMTP {} (for [alerts] smtp)",
            dq_core::mask_password(smtp)
        );
    }
    let total = import.topics.len() + import.refused.len();
    println!("{imported} of {total} rows imported");
    Ok(imported == total)
}

/// Why the gateway stopped: a configuration to fix (exit 2), or anything else (exit 1).
enum Failure {
    Config(String),
    Other(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Other(message)
    }
}

/// Keeps `registry` published on every shard: synced every `registry_sync_interval` and at
/// once when another gateway changes it or a shard comes back.
fn keep_published<T: dq_core::Definition>(
    registry: &Arc<Registry<T>>,
    state: &AppState,
    config: &GatewayConfig,
    stopped: &tokio::sync::watch::Receiver<bool>,
) {
    let published = registry.clone();
    let observer = state.registry_observer();
    let interval = config.registry_sync_interval;
    tokio::spawn(async move { published.keep_published(interval, observer).await });
    tokio::spawn(
        registry
            .clone()
            .watch(state.registry_observer(), stopped.clone()),
    );
}

async fn serve(config: GatewayConfig, args: &Args, set_log: SetLogFilter) -> Result<(), Failure> {
    let queue =
        Arc::new(DelayQueue::new(&config.queue).map_err(|e| Failure::Config(e.to_string()))?);
    // One server named twice would double every count: refuse to start (if it answers now;
    // otherwise the first connection refuses).
    for report in queue.servers().await {
        match report.result {
            Err(e) if e.kind() == ErrorKind::InvalidArgument => {
                return Err(Failure::Config(e.to_string()));
            }
            Err(e) => {
                tracing::warn!(shard = %report.server, error = %e, "Redis does not answer yet")
            }
            Ok(_) => {}
        }
    }
    let registry = Arc::new(dq_gateway::with_record(
        Registry::new(queue.clone()),
        &config,
    ));
    let state = AppState::new(queue.clone(), registry.clone(), &config);
    if let Err(e) = registry.declare(config.topics.clone()).await {
        tracing::warn!(error = %e, "could not publish the topic registry yet; retrying in the background");
    }
    let subscriptions = state.subscriptions.registry.clone();
    if let Err(e) = subscriptions.declare(config.subscriptions.clone()).await {
        tracing::warn!(error = %e, "could not publish the subscriptions yet; retrying in the background");
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    keep_published(&registry, &state, &config, &stopped);
    keep_published(&subscriptions, &state, &config, &stopped);
    tokio::spawn(state.log_activity(config.log_summary_interval));
    state.watch_backends(stopped.clone());
    let producer = state.producer.clone();

    // Bind first: a gateway that cannot listen must not have started leasing messages.
    let listener = if args.workers_only {
        None
    } else {
        Some(
            dq_gateway::server::bind(&config.listen, config.http.backlog)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?,
        )
    };
    let workers = if args.no_workers {
        None
    } else {
        Some(
            // Topics with an `exchange` publish their due messages over the API's connection.
            Workers::start_with_broker(
                queue,
                registry.clone(),
                config.workers.clone(),
                state.observer(),
                Some(producer.clone()),
            )
            .map_err(|e| e.to_string())?,
        )
    };
    let xa_recovery = match state.xa_recovery() {
        Some(recovery) if !args.no_workers => Some(tokio::spawn(recovery.run(stopped.clone()))),
        _ => None,
    };
    let relays = if args.no_workers {
        Vec::new()
    } else {
        let mut started = state.start_outbox_relays(stopped.clone());
        started.push(state.start_subscriptions(stopped.clone()));
        started
    };
    // SIGTERM and ctrl-c stop both the HTTP listener and the workers; SIGHUP reloads.
    let set_workers = workers
        .as_ref()
        .map(|w| Box::new(w.reconfigurer()) as dq_gateway::reload::SetWorkers);
    let reloader = Reloader::new(
        args.config.clone(),
        config.clone(),
        state.clone(),
        set_log,
        set_workers,
    );
    // The handlers are installed here, before READY=1: a SIGHUP or SIGTERM that comes right after
    // it (systemd's reload, a quick stop) must not find the default action, which kills.
    let handlers = SignalHandlers::install()
        .inspect_err(
            |e| tracing::error!(error = %e, "cannot install signal handlers; stop with SIGKILL"),
        )
        .ok();
    tokio::spawn(async move {
        signals(handlers, reloader).await;
        dq_gateway::systemd::stopping();
        let _ = stop.send(true);
    });
    let mut stopped = stopped;
    match listener {
        None => {
            tracing::info!(
                topics = registry.list().len(),
                "dq-gateway running workers only (no HTTP listener)"
            );
            dq_gateway::systemd::ready();
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
            dq_gateway::systemd::ready();
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            run(listener, state, &config, shutdown)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    if let Some(recovery) = xa_recovery {
        let _ = recovery.await;
    }
    for relay in relays {
        let _ = relay.await;
    }
    producer.close().await;
    tracing::info!("dq-gateway stopped");
    Ok(())
}

/// SIGTERM, SIGHUP and SIGINT, caught from the moment this is made.
struct SignalHandlers {
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl SignalHandlers {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }
}

/// Waits for SIGTERM or ctrl-c, reloading the configuration at each SIGHUP meanwhile.
async fn signals(handlers: Option<SignalHandlers>, reloader: Reloader) {
    let Some(SignalHandlers {
        mut terminate,
        mut hangup,
        mut interrupt,
    }) = handlers
    else {
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => {
                tracing::info!("ctrl-c: stopping");
                return;
            }
            _ = terminate.recv() => {
                tracing::info!("SIGTERM: stopping");
                return;
            }
            _ = hangup.recv() => {
                dq_gateway::systemd::reloading();
                reloader.reload().await;
                dq_gateway::systemd::ready();
            }
        }
    }
}

/// Logs go to stderr through a background writer, so a request never waits for the terminal
/// or the log collector. Returns the guard that flushes what is left when `main` ends, and
/// how to change the filter later (SIGHUP).
fn init_logging(
    format: LogFormat,
    filter: &str,
) -> (tracing_appender::non_blocking::WorkerGuard, SetLogFilter) {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(dq_gateway::logging::filter(Some(filter)))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    // The handle's type differs per format; both are kept behind the same closure.
    macro_rules! install {
        ($builder:expr) => {{
            let builder = $builder.with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            let set: SetLogFilter = Box::new(move |filter: &str| {
                tracing_subscriber::EnvFilter::try_new(filter)
                    .map_err(|e| format!("{filter:?}: {e}"))?;
                handle
                    .reload(dq_gateway::logging::filter(Some(filter)))
                    .map_err(|e| e.to_string())
            });
            set
        }};
    }
    let set = match format {
        LogFormat::Human => install!(builder),
        LogFormat::Json => install!(builder.json()),
    };
    (guard, set)
}
