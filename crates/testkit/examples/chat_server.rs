//! Run the chat receiver test server on its own and print every message it receives, to try
//! the notification bot by hand.
//!
//!     cargo run --example chat_server -- --port 8065
//!     cargo run --example chat_server -- --port 8065 --one-per-second --matrix-token secret
//!
//! Point a target at it: a Slack, Mattermost, Teams or generic webhook URL is
//! `http://127.0.0.1:8065/<any path>`; a Matrix homeserver is `http://127.0.0.1:8065` (with the
//! token printed at start). Faults are driven over HTTP under `/_test/` (see
//! `portcullis_testkit::chat_server`), for example:
//!
//!     curl -X POST localhost:8065/_test/faults \
//!          -d '{"fault": {"kind": "rate_limit", "retry_after_ms": 2000}, "times": 1}'
//!     curl -X POST localhost:8065/_test/faults \
//!          -d '{"fault": {"kind": "status", "status": 404, "body": "channel_not_found"}}'
//!
//! Runs until interrupted (Ctrl-C).

use std::time::Duration;

use clap::Parser;
use portcullis_testkit::chat_server::{ChatServer, Config, DEFAULT_MATRIX_TOKEN};

/// A chat receiver (Slack, Mattermost, Teams, Matrix and generic webhooks) for trying
/// notifications by hand.
#[derive(Debug, Parser)]
#[command(name = "chat_server")]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The Matrix access token to accept.
    #[arg(long, default_value = DEFAULT_MATRIX_TOKEN)]
    matrix_token: String,
    /// Answer 429 to a message arriving within a second of the previous one.
    #[arg(long)]
    one_per_second: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = ChatServer::start_with(Config {
        port: args.port,
        matrix_token: args.matrix_token.clone(),
        one_per_second: args.one_per_second,
    })?;
    let url = server.url();
    println!("chat receiver listening on {url}");
    println!("  webhooks:  POST {url}/<any path>");
    println!("  Matrix:    homeserver {url}, token {}", args.matrix_token);
    println!("  controls:  {url}/_test/received, {url}/_test/faults");
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let all = server.received();
        for r in all.iter().skip(seen) {
            // Wait for the answer, except for hanging faults (which never answer).
            if r.status == 0 && r.fault.is_none() && r.at.elapsed() < Duration::from_secs(2) {
                break;
            }
            seen += 1;
            let status = match r.status {
                0 => "no answer".to_string(),
                s => s.to_string(),
            };
            let delivered = if r.delivered {
                "delivered"
            } else {
                "not delivered"
            };
            println!(
                "\n[{:>8.3}s] {} {} ({:?}) -> {status}, {delivered}{}",
                r.elapsed_ms as f64 / 1000.0,
                r.method,
                r.path,
                r.style,
                r.fault
                    .as_ref()
                    .map(|f| format!(", fault {f:?}"))
                    .unwrap_or_default(),
            );
            if let Some(key) = r.header("idempotency-key") {
                println!("  Idempotency-Key: {key}");
            }
            println!("{}", serde_json::to_string_pretty(&r.body)?);
        }
    }
}
