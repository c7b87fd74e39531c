//! `kvs reload`: asks a running kvs to reload or roll back its guest, through
//! the admin endpoint, and prints the outcome. Exits non-zero when the server
//! refused, so deploy scripts can stop on a bad guest.

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Args)]
pub struct ReloadArgs {
    /// Send this component; without it the server reloads its own --guest file.
    #[arg(long, conflicts_with = "rollback")]
    pub guest: Option<PathBuf>,

    /// Return to the previous guest instead.
    #[arg(long)]
    pub rollback: bool,

    /// Only show the current and previous guests.
    #[arg(long, conflicts_with_all = ["guest", "rollback"])]
    pub status: bool,

    /// Address of the admin endpoint.
    #[arg(long, env = "KVS_ADMIN", default_value = "127.0.0.1:9002")]
    pub admin: String,

    /// Bearer token of the admin endpoint.
    #[arg(long, env = "KVS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

pub async fn run(args: &ReloadArgs) -> anyhow::Result<()> {
    let (method, path, body) = if args.status {
        ("GET", "/status", None)
    } else if args.rollback {
        ("POST", "/rollback", None)
    } else {
        let body = match &args.guest {
            Some(guest) => {
                let bytes = tokio::fs::read(guest)
                    .await
                    .with_context(|| format!("cannot read {}", guest.display()))?;
                anyhow::ensure!(
                    !bytes.is_empty(),
                    "{} is empty: it is not a component",
                    guest.display()
                );
                Some(Bytes::from(bytes))
            }
            None => None,
        };
        ("POST", "/reload", body)
    };
    let socket = TcpStream::connect(&args.admin)
        .await
        .with_context(|| format!("cannot connect to the admin endpoint {}", args.admin))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(socket)).await?;
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", &args.admin);
    if let Some(token) = &args.admin_token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", crate::front::admin::COMPONENT_TYPE);
    }
    let body = Full::new(body.unwrap_or_default());
    let response = sender.send_request(request.body(body)?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    println!("{}", String::from_utf8_lossy(&body));
    anyhow::ensure!(status.is_success(), "the admin endpoint answered {status}");
    Ok(())
}
