//! The metrics endpoint's thread (`-o metrics_listen`): answers `GET
//! /metrics` with [`crate::exposition::render`], everything else with 404
//! (405 for another method). HTTP is spoken by `tiny_http` (a small,
//! blocking HTTP/1.1 server) rather than by hand: request parsing,
//! keep-alive and chunking are easy to get subtly wrong, and this port
//! faces whatever scrapes it. Its threads are not the workers', so a slow
//! scraper never delays a request.

use super::Shared;
use crate::engine::Context;
use crate::metrics::Counters;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the thread looks at the stop signal while no scrape comes.
const POLL: Duration = Duration::from_millis(250);

/// Binds the endpoint's socket (before privileges are dropped).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("metrics_listen {addr}: {e}")))
}

/// Serves scrapes on `listener` until the server stops.
pub fn spawn(listener: TcpListener, shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    let server = tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let counters = Counters::default();
            while !shared.shutdown.is_triggered() {
                match server.recv_timeout(POLL) {
                    Ok(Some(request)) => answer(request, &shared, &counters),
                    Ok(None) => {}
                    Err(e) => log::warn!("metrics endpoint: {e}"),
                }
            }
        })
}

fn answer(request: tiny_http::Request, shared: &Shared, counters: &Counters) {
    let path = request.url().split('?').next().unwrap_or("");
    let response = match (request.method(), path) {
        (tiny_http::Method::Get, "/metrics") => {
            let ctx = Context {
                store: &shared.store,
                settings: &shared.settings,
                stats: &shared.stats,
                counters,
                tls: shared.tls.as_deref(),
                cluster: shared.cluster.as_ref(),
                watch: &shared.watch,
                client: 0,
            };
            let text = crate::exposition::render(&ctx);
            let header =
                tiny_http::Header::from_bytes("Content-Type", crate::exposition::CONTENT_TYPE)
                    .expect("a valid header");
            tiny_http::Response::from_string(text).with_header(header)
        }
        (tiny_http::Method::Get, _) => {
            tiny_http::Response::from_string("not found: try /metrics\n").with_status_code(404)
        }
        _ => tiny_http::Response::from_string("method not allowed\n").with_status_code(405),
    };
    if let Err(e) = request.respond(response) {
        log::debug!("metrics endpoint: {e}");
    }
}
