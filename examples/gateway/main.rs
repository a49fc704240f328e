//! A small API server configured only by environment variables, for trying real tokens (from
//! your identity provider, or minted by hand) against `jwt_layer`.
//!
//! Routes:
//! - `GET /health`: public, answers `ok`;
//! - `GET /me`: every claim of the verified token, as JSON (with `JWT_ROLES_CLAIM`:
//!   `{"claims": {…}, "roles": […]}`);
//! - `GET /admin`: needs the scope `admin` (403 `insufficient_scope` otherwise);
//! - `GET /ready`: public, 200 `{"status":"ready"}` while every key source has a usable key
//!   set, else 503 with `{"status":"not_ready","reason":…}` (a remote set never fetched, or
//!   past its staleness limit), for an orchestrator's readiness probe;
//! - `GET /metrics`: public, the counters and histograms of the `jwt_layer::metrics` module in
//!   the Prometheus text format (in production, serve it where only the scraper can reach it);
//! - with `JWT_RESOURCE_URL`: `GET /.well-known/oauth-protected-resource…` (the path the
//!   resource's URL gives, RFC 9728 §3.1), public, the protected resource metadata as JSON.
//!
//! With `JWT_INTROSPECTION_URL`, opaque access tokens are verified by asking the authorization
//! server (RFC 7662); JWTs are still verified locally with the key source, and without a key
//! source every token is introspected.
//!
//! With `JWT_DPOP=allowed` or `required`, `/me` and `/admin` also take DPoP-bound tokens
//! (RFC 9449): `Authorization: DPoP <token>` plus a `DPoP: <proof>` header.
//!
//! Refusals carry the RFC 6750 (or RFC 9449 `DPoP`) `WWW-Authenticate` challenge and a small
//! JSON body saying why.
//!
//! With `JWT_REDIS_URL`, several gateways form a fleet: DPoP proofs and revocations live in
//! Redis (one server or a cluster), so a proof accepted by one gateway is a replay to every
//! other, and a token revoked in Redis is refused by all of them.
//! The variables are listed under "Environment" below. On a configuration error the server
//! says what is wrong on stderr and exits with code 2. Once it accepts connections it prints
//! `listening on ADDR` on stdout; Ctrl-C or SIGTERM stop it gracefully.
//!
//! ```text
//! JWT_HS256_SECRET=0123456789abcdef0123456789abcdef \
//! JWT_ISSUER=https://login.example JWT_AUDIENCE=my-api \
//!     cargo run --example gateway
//!
//! JWT_JWKS_FILE=jwks.json JWT_ISSUER=https://login.example JWT_AUDIENCE=my-api,my-other-api \
//! RUST_LOG=info,jwt_layer=debug cargo run --example gateway
//!
//! curl -i http://127.0.0.1:3000/me -H "Authorization: Bearer $TOKEN"
//!
//! JWT_DPOP=required JWT_PUBLIC_URL=https://api.example.com JWT_PROFILE=rfc9068 \
//! JWT_ROLES_CLAIM=realm_access.roles JWT_JWKS_URL=https://login.example/jwks.json \
//! JWT_ISSUER=https://login.example JWT_AUDIENCE=my-api cargo run --example gateway
//!
//! curl -i https://api.example.com/me -H "Authorization: DPoP $TOKEN" -H "DPoP: $PROOF"
//! ```
//!
//! # Environment
//!
//! | Variable                 | Default          | Meaning                                          |
//! |--------------------------|------------------|--------------------------------------------------|
//! | `BIND`                   | `127.0.0.1:3000` | address to listen on (port 0 picks a free one)   |
//! | `JWT_ISSUER`             | required         | accepted `iss`; comma-separated for several      |
//! | `JWT_ALLOW_ANY_ISSUER`   | unset            | `1`: no issuer check (instead of `JWT_ISSUER`)   |
//! | `JWT_AUDIENCE`           | required         | accepted `aud`; comma-separated for several      |
//! | `JWT_ALLOW_ANY_AUDIENCE` | unset            | `1`: no audience check (instead of `JWT_AUDIENCE`) |
//! | `JWT_JWKS_FILE`          | —                | key source: a JWKS (or single JWK) JSON file; `oct` keys allowed |
//! | `JWT_HS256_SECRET`       | —                | key source: an HMAC secret (raw string, at least 32 bytes), HS256 only |
//! | `JWT_PUBLIC_KEY_FILE`    | —                | key source: a PEM public key (RSA, EC P-256/P-384/P-521, Ed25519) |
//! | `JWT_JWKS_URL`           | —                | key source: a JWKS URL (https, or http to loopback), cached and refreshed |
//! | `JWT_OIDC_ISSUER_URL`    | —                | key source: an OpenID provider, found by discovery; also the default `JWT_ISSUER` |
//! | `JWT_RESOURCE_URL`       | unset            | this API's resource identifier (RFC 8707), e.g. `https://api.example.com`: an accepted audience (`JWT_AUDIENCE` becomes optional), the metadata (RFC 9728) served at its well-known path, and named by every challenge in `resource_metadata` |
//! | `JWT_SCOPES_SUPPORTED`   | `admin`          | with `JWT_RESOURCE_URL`: the metadata's `scopes_supported`, comma-separated |
//! | `JWT_INTROSPECTION_URL`  | unset            | an RFC 7662 introspection endpoint (https, or http to loopback): tokens that are not JWS-shaped are sent there; with no key source, every token is |
//! | `JWT_INTROSPECTION_CLIENT_ID`, `JWT_INTROSPECTION_CLIENT_SECRET` | (required with `JWT_INTROSPECTION_URL`) | the gateway's credentials at the introspection endpoint |
//! | `JWT_INTROSPECTION_AUTH` | `basic`          | how they are sent: `basic` (`client_secret_basic`) or `post` (`client_secret_post`) |
//! | `JWT_JWKS_COOLDOWN_SECS` | `30`             | remote sources: least time between refreshes caused by unknown `kid`s |
//! | `JWT_INFER_ALG`          | unset            | `1`: JWK keys without `alg` verify their whole family (JWKS sources only) |
//! | `JWT_LEEWAY_SECS`        | `60`             | clock-skew allowance for `exp`/`nbf`, at most 600 |
//! | `JWT_MAX_TOKEN_BYTES`    | `8192`           | longest token accepted                           |
//! | `JWT_REQUIRE_TYPE`       | unset            | required header `typ`, for example `at+jwt`      |
//! | `JWT_PROFILE`            | unset            | `rfc9068`: the JWT access-token profile (`typ` `at+jwt`; `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti` required) |
//! | `JWT_DPOP`               | `off`            | `allowed`: `/me` and `/admin` also take `Authorization: DPoP` with a `DPoP` proof, and refuse a `cnf`-bound token sent as `Bearer`; `required`: `Bearer` is refused with a `DPoP` challenge |
//! | `JWT_PUBLIC_URL`         | (required with `JWT_DPOP`) | the scheme and host clients use, e.g. `https://api.example.com` (several separated by commas); proofs' `htu` must be one of them plus the request path. The `Host` header is never used |
//! | `JWT_ROLES_CLAIM`        | unset            | claim path(s) holding roles, comma-separated, e.g. `realm_access.roles`; a name with `://` is one claim; `GET /me` then shows the roles |
//! | `JWT_REQUIRE_ACR`        | unset            | step-up authentication (RFC 9470) on `/me` and `/admin`: the accepted `acr` values, comma-separated in order of preference; another `acr`, or none, is 401 `insufficient_user_authentication` with `acr_values` |
//! | `JWT_MAX_AUTH_AGE_SECS`  | unset            | step-up authentication on `/me` and `/admin`: the user signed in at most this many seconds ago (`auth_time`); older, or no `auth_time`, is 401 `insufficient_user_authentication` with `max_age` |
//! | `JWT_ISSUER_TEMPLATE`    | unset            | many tenants: an issuer URL holding `{tenant}` (`https://login.microsoftonline.com/{tenant}/v2.0`); each allowed tenant's issuer is trusted with keys by its discovery document, and no key source or `JWT_ISSUER` is set |
//! | `JWT_TENANTS`            | unset            | with `JWT_ISSUER_TEMPLATE`: the tenants allowed, comma-separated ids (letters, digits, `-`, `_`, `.`); an issuer with any other id is refused without a fetch |
//! | `JWT_TENANTS_FILE`       | unset            | instead of `JWT_TENANTS`: a file with one tenant id a line (blank lines and `#` comments skipped) |
//! | `JWT_MAX_TENANTS`        | `1000`           | with `JWT_ISSUER_TEMPLATE`: at most this many tenants' key caches live at once; the one used longest ago makes room |
//! | `JWT_TENANT_CLAIM`       | unset            | with `JWT_ISSUER_TEMPLATE`: a claim every token must carry with its tenant's id (`tid` for Entra ID) |
//! | `JWT_REDIS_URL`          | unset            | `redis://host:port/db`: DPoP proofs and revocations are kept in this Redis, shared by every gateway given the same URL (see below) |
//! | `JWT_REDIS_CLUSTER`      | unset            | `1`: `JWT_REDIS_URL` names nodes of a Redis Cluster, comma-separated (a few primaries; the rest is discovered) |
//! | `JWT_REDIS_PREFIX`       | `jwt-layer:`     | prefix of every Redis key, to share a Redis between applications (no `{` or `}`) |
//! | `JWT_REDIS_TIMEOUT_MS`   | `1000`           | longest wait for Redis per operation, connecting included, 1 to 60 000; past it the request gets 503 |
//! | `JWT_CORS_ALLOWED_ORIGINS` | unset          | browser pages allowed to call the API, comma-separated origins (`https://app.example.com`): their preflights are answered, every answer to them carries the CORS headers with `WWW-Authenticate` and `DPoP-Nonce` exposed; unset, no CORS header and a preflight is refused like any request without a token |
//! | `RUST_LOG`               | `info`           | log filter (logs go to stderr)                   |
//!
//! Exactly one key source must be set, or none with `JWT_INTROSPECTION_URL` (opaque tokens
//! only). Flags take `1`/`true` or `0`/`false`. With `JWT_DPOP=off`
//! the `DPoP` scheme is not recognised, and a `cnf`-bound token is still refused as `Bearer`.
//!
//! Without `JWT_REDIS_URL`, DPoP proofs' `jti`s are remembered in process (100 000 at most;
//! when full of live entries, requests get 503 rather than a replay getting through) and
//! nothing is revoked. With it, proofs are recorded in Redis (`SET NX`: of two gateways seeing
//! the same proof, exactly one accepts it), and every request to `/me` and `/admin` is checked
//! against the revocations in Redis. The gateway has no endpoint to revoke: revocations are
//! written into the same Redis (same prefix) by another process, with `RedisStore`'s
//! `revoke_token` and `revoke_subject`. When Redis does not answer within
//! `JWT_REDIS_TIMEOUT_MS` (down, unreachable or slow), the requests that need it get 503 with
//! `Retry-After: 1`, never a pass; the gateway reconnects by itself when Redis is back. The
//! gateway starts even when Redis is down.
//!
//! With `JWT_RESOURCE_URL`, a token is accepted when its `aud` names the resource (compared in
//! canonical form) or one of `JWT_AUDIENCE`; `JWT_ALLOW_ANY_AUDIENCE=1` is refused with it,
//! since it would accept tokens meant for any resource. The metadata lists the accepted
//! issuers as `authorization_servers` (none with `JWT_ALLOW_ANY_ISSUER`) and
//! `JWT_SCOPES_SUPPORTED`, by default `admin`, the one scope a route here requires.
//!
//! With `JWT_INTROSPECTION_URL`, an introspected token's answer is checked as a JWT's claims
//! are (`iss`, `aud`, `exp`, …), `/me` shows it, and its `scope` opens `/admin`. `"active":
//! false` is a 401; an endpoint that cannot answer (down, timeout, not 200, not JSON) is a 503
//! with `Retry-After: 1`, never a pass. Active answers are reused for up to 60 s, inactive ones
//! for 5 s.
//!
//! # Files
//!
//! `config.rs` reads and checks the environment, `keys.rs` loads the key source, `verifier.rs`
//! builds the verifier from both, `app.rs` holds the routes and `cors.rs` the optional CORS
//! layer (`JWT_CORS_ALLOWED_ORIGINS`); this file starts, serves and stops. Dependencies run one
//! way: `keys.rs` and `cors.rs` use none of the others, `config.rs` only its `KeySource`,
//! `verifier.rs` both, `app.rs` the configuration and the verifier's claims type.

mod app;
mod config;
mod cors;
mod keys;
mod verifier;

use std::io::IsTerminal;

use tokio::net::TcpListener;

use crate::config::{config_from_env, fail};

#[tokio::main]
async fn main() {
    let (config, log_filter) = config_from_env().unwrap_or_else(|message| fail(&message));
    let cors = cors::from_env().unwrap_or_else(|message| fail(&message));
    // Colours only for a terminal: a log file or a collector gets plain text.
    tracing_subscriber::fmt()
        .with_env_filter(log_filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // Before the verifier exists, so everything it reports lands in this recorder.
    let prometheus = app::install_metrics().unwrap_or_else(|message| fail(&message));
    let (auth, remote) = verifier::build_auth(&config).unwrap_or_else(|message| fail(&message));
    tracing::info!(
        ?auth,
        dpop = ?config.dpop,
        public_origins = ?config.public_origins,
        rfc9068 = config.profile,
        roles_claims = ?config.roles_claims,
        introspection = ?config.introspection.as_ref().map(|introspection| &introspection.url),
        "verifier configured"
    );
    if let Some(remote) = remote {
        // Fetch once before serving; if the provider is down, keep going: requests are refused
        // until a later fetch succeeds.
        match remote.refresh().await {
            Ok(()) => tracing::info!(status = ?remote.status(), "remote key set fetched"),
            Err(err) => tracing::warn!(error = %err, "remote key set not fetched yet"),
        }
    }

    let app = app::router(auth, &config, prometheus).unwrap_or_else(|message| fail(&message));
    // Outside every route and the verifier: it answers preflights itself.
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };

    let listener = TcpListener::bind(&config.bind)
        .await
        .unwrap_or_else(|err| fail(&format!("cannot listen on BIND={}: {err}", config.bind)));
    let addr = listener.local_addr().unwrap_or_else(|err| fail(&err.to_string()));
    println!("listening on {addr}");

    if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await {
        eprintln!("gateway: server error: {err}");
        std::process::exit(1);
    }
    tracing::info!("stopped");
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
