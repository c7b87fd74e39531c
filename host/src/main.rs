//! The `kvs` binary: parses arguments, binds, and runs a
//! [`kvs::server::Server`] (or one of the tools).

use anyhow::Context as _;
use clap::Parser as _;
use kvs::cli::{Cli, Command, LogFormat, ServeArgs};
use kvs::front::listener::bind;
use kvs::server::{Listeners, Server};
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The admin endpoint serves operators and scrapers, not bursts of clients.
const ADMIN_BACKLOG: usize = 128;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Client(args)) => {
            let all_ok = kvs::tools::client::run(&args)?;
            std::process::exit(if all_ok { 0 } else { 1 });
        }
        Some(Command::Bench(args)) => {
            return tokio::runtime::Runtime::new()?.block_on(kvs::tools::bench::run(args));
        }
        Some(Command::Compare(args)) => {
            return tokio::runtime::Runtime::new()?.block_on(kvs::tools::bench::compare::run(args));
        }
        Some(Command::Reload(args)) => {
            return tokio::runtime::Runtime::new()?.block_on(kvs::tools::reload::run(&args));
        }
        Some(Command::CompileGuest(args)) => return kvs::runtime::compile::run_child(&args),
        Some(Command::CheckData(args)) => {
            let whole = kvs::data::check::run(&args)?;
            std::process::exit(if whole { 0 } else { 1 });
        }
        None => cli.serve,
    };
    init_logging(args.log_format);
    tokio::runtime::Runtime::new()?.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // A file-size limit (`ulimit -f`) reached while writing the log or a
    // snapshot must fail that write (EFBIG), which kvs reports and retries,
    // not kill the process as SIGXFSZ does by default.
    #[cfg(unix)]
    let _file_size =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(libc::SIGXFSZ))
            .context("cannot install the SIGXFSZ handler")?;
    let server = Server::new(args.settings()?).await?;
    let http = bind(args.http, args.max_http_connections)
        .with_context(|| format!("cannot listen for HTTP on {}", args.http))?;
    let tcp = bind(args.tcp, args.max_tcp_connections)
        .with_context(|| format!("cannot listen for TCP on {}", args.tcp))?;
    let admin = bind(args.admin, ADMIN_BACKLOG)
        .with_context(|| format!("cannot listen for the admin endpoint on {}", args.admin))?;
    let resp = args
        .resp
        .map(|address| {
            bind(address, args.max_tcp_connections)
                .with_context(|| format!("cannot listen for RESP on {address}"))
        })
        .transpose()?;
    // Install the signal handlers before announcing the server: from then on
    // SIGTERM and ctrl-c shut down gracefully and SIGHUP reloads, rather than
    // their default action of killing the process.
    let shutdown = kvs::ops::shutdown::on_signal().context("cannot install signal handlers")?;
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;

    let resp_address = resp.as_ref().map(TcpListener::local_addr).transpose()?;
    announce(
        args.log_format,
        http.local_addr()?,
        tcp.local_addr()?,
        admin.local_addr()?,
        resp_address,
    );
    server
        .run(
            Listeners {
                http,
                tcp,
                admin,
                resp,
                #[cfg(unix)]
                hangups: Some(hangups),
            },
            shutdown,
        )
        .await
}
/// Prints the bound addresses once, to stderr, whatever the log level: as a
/// line for people, or with `--log-format json` as a log record like every
/// other line, so a log pipeline parses all of them.
fn announce(
    format: LogFormat,
    http: SocketAddr,
    tcp: SocketAddr,
    admin: SocketAddr,
    resp: Option<SocketAddr>,
) {
    match format {
        LogFormat::Text => {
            let resp = resp
                .map(|resp| format!(" resp://{resp}"))
                .unwrap_or_default();
            eprintln!("kvs listening: http://{http} tcp://{tcp} admin://{admin}{resp}");
        }
        LogFormat::Json => {
            let mut fields = serde_json::json!({
                "message": "kvs listening",
                "http": http.to_string(),
                "tcp": tcp.to_string(),
                "admin": admin.to_string(),
            });
            if let Some(resp) = resp {
                fields["resp"] = resp.to_string().into();
            }
            eprintln!(
                "{}",
                serde_json::json!({
                    "timestamp": humantime_now(),
                    "level": "INFO",
                    "fields": fields,
                    "target": "kvs",
                })
            );
        }
    }
}

/// Now in RFC 3339 (UTC, microseconds), the timestamp format of the JSON logs.
fn humantime_now() -> String {
    use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
    let mut text = String::new();
    let _ = SystemTime.format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut text));
    text
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only where a person reads them: not in a file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
