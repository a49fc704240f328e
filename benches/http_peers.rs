//! The servers of `scripts/http_load.sh`'s comparison with the peers over HTTP: for HS256 and
//! RS256, the routers of `budget.rs` each on a loopback port of one process (the same runtime,
//! so they get the same machine):
//!
//! - `open`: the route without authentication, the floor;
//! - `jwt-layer`: the layer as the README shows it, its verified-token cache on (the default);
//! - `jwt-layer-uncached`: the same with `.token_cache(false)`, every request verified in full
//!   (what a token the layer has not seen costs);
//! - `jwt-authorizer`, `tower-oauth2-resource-server`: the peers, configured alike.
//!
//! Every route is `GET /me` and answers `ok`. Prints one line per server,
//! `ALG NAME URL TOKEN` (the token every contender accepts), then `ready`; serves for
//! `HTTP_PEERS_SECS` seconds (default 600), then exits.
//!
//! Run: `cargo bench -p jwt-layer-benches --bench http_peers` (the script starts it).

mod common;

use std::convert::Infallible;
use std::time::Duration;

use axum::serve::IncomingStream;
use jwt_layer::Algorithm;
use tokio::net::TcpListener;

use common::*;

fn main() {
    let limit = std::env::var("HTTP_PEERS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        for alg in [Algorithm::HS256, Algorithm::RS256] {
            let fx = fixture(alg);
            let contenders = [
                ("open", Some(router_without_auth())),
                ("jwt-layer", Some(router_with_layer(&cached_auth(&fx)))),
                ("jwt-layer-uncached", Some(router_with_layer(&our_auth(&fx)))),
                ("jwt-authorizer", router_jwt_authorizer(&fx).await),
                ("tower-oauth2-resource-server", router_tower_oauth2(&fx).await),
            ];
            for (name, service) in contenders {
                let Some(service) = service else { continue };
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                println!("{alg} {name} http://{addr}/me {}", fx.token);
                // Every connection gets a clone of the contender's boxed service (behind a lock
                // only because the boxed service is not `Sync`; taken once per connection).
                let service = std::sync::Mutex::new(service);
                let app = tower::service_fn(move |_: IncomingStream<'_, TcpListener>| {
                    let clone = service.lock().unwrap().clone();
                    std::future::ready(Ok::<_, Infallible>(clone))
                });
                tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            }
        }
        println!("ready");
        tokio::time::sleep(Duration::from_secs(limit)).await;
    });
    // The servers' tasks end with the runtime.
    runtime.shutdown_timeout(Duration::from_millis(100));
}
