//! The README's Rust code blocks, compiled: `build.rs` writes each into a module of its own
//! with the context its `<!-- readme-check {...} -->` comment names. Nothing here runs; a
//! block that no longer compiles against the crate fails the build, so the README cannot drift
//! from the API it shows.
#![allow(dead_code, unused_variables, unused_mut, missing_docs, clippy::all)]

/// The claims type the README's blocks assume where they do not declare their own.
#[derive(Debug, serde::Deserialize)]
pub struct MyClaims {
    pub sub: String,
}

/// The claims of the README's MCP blocks.
#[derive(Debug, serde::Deserialize)]
pub struct McpClaims {
    pub sub: String,
    pub client_id: String,
}

include!(concat!(env!("OUT_DIR"), "/readme_blocks.rs"));
