//! The in-process integration tests, one binary: each `tests/*.rs` file would be a crate of its
//! own to compile and link. Suites that start processes (the gateway and inspect examples,
//! redis-server, Node.js) or measure the whole process (`resource_bounds`) are binaries of
//! their own beside this one.

#[path = "../support/clock.rs"]
mod clock;
mod common;
#[path = "../support/jwks_server.rs"]
mod jwks_server;

mod attack_corpus;
mod browser_cors;
mod certificate_bound;
mod differential;
mod dpop;
mod dpop_independent;
mod explain;
mod fault_injection;
mod granted_extractors;
mod identity_providers;
mod independent_fixtures;
mod introspection;
mod issuers;
mod layer;
mod mcp;
mod profile_and_roles;
mod property;
mod remote_jwks;
mod resource_metadata;
mod rfc7515_examples;
mod rotation_under_load;
mod step_up;
mod tenants;
mod token_cache;
