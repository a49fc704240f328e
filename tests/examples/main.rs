//! The examples as their users run them: the gateway and inspect binaries started as processes
//! (the ones cargo built beside this test), talked to over loopback and through their output.
//! A binary of its own because it starts processes; the in-process tests are in `tests/it/`.

// Without feature `remote` only `inspect` runs, and it writes no key file.
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
#[path = "../support/example.rs"]
mod example;
#[path = "../support/gateway_process.rs"]
mod gateway_process;
#[path = "../support/jwks_server.rs"]
mod jwks_server;

mod gateway;
mod gateway_cors;
mod gateway_introspection;
mod gateway_metrics;
mod gateway_resource;
mod gateway_tenants;
mod inspect;
