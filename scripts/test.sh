#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every test in both crypto-backend
# builds, doc tests, docs, examples and benchmarks compiled. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
# Runs cargo test with the given arguments, keeping its output for the closing count. The
# tests that need Node.js or redis-server are `#[ignore]`d for plain `cargo test`; this script
# installs both, so it runs them too.
run_tests() { cargo test "$@" -- --include-ignored 2>&1 | tee -a "$results"; }

step "rustfmt and clippy components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "Node.js and the OpenID provider for the end-to-end test (tests/oidc)"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi
node --version
npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error

step "redis-server for the Redis store tests (tests/redis_stores.rs)"
if ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi
redis-server --version

step "formatting"
cargo fmt --all -- --check

step "clippy (all targets, all features, warnings are errors)"
cargo clippy --all-targets --all-features -- -D warnings

step "tests (default features)"
run_tests

step "tests (all features: both jsonwebtoken crypto backends enabled)"
run_tests --all-features

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

step "examples and benchmarks build"
cargo build --examples --all-features
cargo bench --no-run --all-features

passed=$(grep -Eo 'test result: [a-z]+\. [0-9]+ passed' "$results" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$results" | awk '{s+=$1} END {print s+0}')
echo
echo "Summary: $passed passed, $failed failed"
