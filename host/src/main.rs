//! The `kvs` binary: parses arguments, binds, and calls [`kvs::server::run`].

use anyhow::Context as _;
use clap::Parser as _;
use kvs::app::App;
use kvs::cli::{Cli, Command, LogFormat, ServeArgs};
use kvs::server::{Listeners, ServerConfig};
use tokio::net::TcpListener;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Client(args)) => {
            let all_ok = kvs::client::run(&args)?;
            std::process::exit(if all_ok { 0 } else { 1 });
        }
        None => cli.serve,
    };
    init_logging(args.log_format);
    tokio::runtime::Runtime::new()?.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let guest = match &args.guest {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("cannot read the guest component {}", path.display()))?,
        None => kvs::guest::DEFAULT_GUEST.to_vec(),
    };
    let app = App::new(args.limits(), args.guest_config(), &guest)?;
    let http = TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", args.http))?;
    let tcp = TcpListener::bind(args.tcp)
        .await
        .with_context(|| format!("cannot listen for TCP on {}", args.tcp))?;
    eprintln!(
        "kvs listening: http://{} tcp://{}",
        http.local_addr()?,
        tcp.local_addr()?
    );
    let config = ServerConfig {
        http: args.http_config(),
        tcp: args.tcp_config(),
        shutdown_timeout: args.shutdown_timeout(),
    };
    kvs::server::run(
        app,
        Listeners { http, tcp },
        config,
        kvs::shutdown::on_signal(),
    )
    .await;
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
