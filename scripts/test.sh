#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every test in both crypto-backend
# builds, doc tests, docs, examples and benchmarks compiled. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt and clippy components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "formatting"
cargo fmt --all -- --check

step "clippy (all targets, all features, warnings are errors)"
cargo clippy --all-targets --all-features -- -D warnings

step "tests (default features)"
cargo test

step "tests (all features: both jsonwebtoken crypto backends enabled)"
cargo test --all-features

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

step "examples and benchmarks build"
cargo build --examples --all-features
cargo bench --no-run --all-features

step "done"
