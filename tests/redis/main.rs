//! The Redis stores against a real redis-server, alone and as a cluster. Every test needs
//! `redis-server` (and `redis-cli` for the cluster) and is ignored for plain `cargo test`;
//! `./scripts/test.sh` installs both and runs them.

#[path = "../support/redis_server.rs"]
mod redis_server;
#[path = "../support/store_race.rs"]
mod store_race;

mod cluster;
mod stores;
