#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every test of the workspace (the
# library's package, the quickstart, benches/ and the interop/ suites) with all features (the
# default ones included), the library without them, doc tests, docs, the declared
# rust-version, examples and fuzz targets compiled, benchmarks type-checked. Installs what it
# needs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it started (minutes:seconds since the script did), so a slow run shows
# where its time went.
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
tests_failed=0
# Runs cargo test with the given arguments, keeping its output for the closing count. The
# tests that need Node.js, Chromium or redis-server are `#[ignore]`d for plain `cargo test`;
# this script installs them, so it runs them too. A failing run is counted, and the script goes
# on to the summary (and exits non-zero there).
run_tests() {
  cargo test "$@" -- --include-ignored 2>&1 | tee -a "$results" || tests_failed=1
}

step "rustfmt and clippy components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# What the end-to-end tests run against, installed in the background while formatting and
# clippy run (those need none of it, and a fresh machine spends a minute or more here): the
# Debian packages that are missing, in one apt transaction; then the npm packages (the OpenID
# provider of tests/oidc, the MCP client of interop/mcp/tests/mcp, puppeteer-core of
# tests/browser, which drives the system's Chromium and downloads no browser of its own) and
# the MCP Python SDK in a virtual environment. redis-cli (package redis-tools) joins the test
# cluster of tests/redis/; jq reads cargo metadata for the rust-version check.
install_test_tools() {
  local missing=()
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3 python3-venv)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  node --version
  chromium --version 2>/dev/null
  python3 --version
  redis-server --version
  redis-cli --version
  for dir in tests/oidc interop/mcp/tests/mcp tests/browser; do
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  done
  python3 -m venv interop/mcp/tests/mcp/.venv
  interop/mcp/tests/mcp/.venv/bin/pip install -q --disable-pip-version-check \
    -r interop/mcp/tests/mcp/requirements.txt
}

step "Node.js, Chromium, Python, redis-server, jq and the end-to-end tests' packages (in the background)"
install_log=$(mktemp)
trap 'rm -f "$results" "$install_log"' EXIT
install_test_tools >"$install_log" 2>&1 &
installer=$!

step "formatting"
cargo fmt --all -- --check

# clippy::incompatible_msrv reads `rust-version` from Cargo.toml: any standard-library item
# stabilized after it is an error.
step "clippy (every member, all targets, all features, warnings and std items newer than rust-version are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings -D clippy::incompatible_msrv

step "the background installs"
if ! wait "$installer"; then
  cat "$install_log"
  echo "installing what the tests need failed (above)"
  exit 1
fi
cat "$install_log"

# Only a toolchain of that version can prove the claim; with one toolchain, this checks what
# can be checked: the standard library (clippy, above) and the dependencies (here), not newer
# language features.
msrv=$(cargo metadata --no-deps --format-version 1 \
  | jq -r '.packages[] | select(.name == "jwt-layer") | .rust_version')
step "rust-version $msrv: no dependency of the library declares a newer one"
three_part() { if [[ $1 =~ ^[0-9]+\.[0-9]+$ ]]; then echo "$1.0"; else echo "$1"; fi; }
newer_than() { [ "$(printf '%s\n%s\n' "$(three_part "$2")" "$(three_part "$1")" | sort -V | tail -n1)" != "$(three_part "$2")" ]; }
host=$(rustc -vV | sed -n 's/^host: //p')
library_deps=$(cargo tree -p jwt-layer -e normal,build --all-features --target "$host" --prefix none \
  | awk '{print $1 " " $2}' | sort -u)
too_new=""
while read -r name version rust_version; do
  if grep -qxF "$name v$version" <<<"$library_deps" && newer_than "$rust_version" "$msrv"; then
    too_new+="  $name $version needs Rust $rust_version"$'\n'
  fi
done < <(cargo metadata --format-version 1 --all-features --filter-platform "$host" \
  | jq -r '.packages[] | select(.rust_version != null) | "\(.name) \(.version) \(.rust_version)"')
if [ -n "$too_new" ]; then
  printf 'dependencies newer than rust-version %s:\n%s' "$msrv" "$too_new"
  exit 1
fi
echo "ok: $(wc -l <<<"$library_deps") packages in the library's tree"

# Once, with every feature. A run with the default features would test the same build again:
# the test suite's own dev-dependency on the crate turns on `testing`, `redis`, `jsonwebtoken`
# and `metrics`, and cargo unifies them with the default `remote`, which is all of them.
# `cargo test` builds every example before the tests run; the tests that start one (gateway,
# inspect, mcp_server) run that binary, so no test starts a cargo of its own.
step "tests (every member, all features)"
run_tests --workspace --all-features

# The library alone, without `remote` (no reqwest, no tokio unless another feature asks),
# linted: a type-check of the build users get with `default-features = false` (no
# dev-dependencies, so none of their features). Its unit tests run in the step above, with
# every feature: built here they would need a third feature resolution (the package's
# dev-dependency on itself turns on `testing`, `redis`, `jsonwebtoken` and `metrics`, which
# `cargo run --example gateway` needs without flags) and another minute of compiling.
step "library without default features: clippy"
cargo clippy --no-default-features --lib -- -D warnings

step "docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

# The public API as the docs list it, against the committed listing: a change of the surface
# is a diff someone reviewed (regenerate: python3 scripts/public_api.py > docs/public-api.txt).
step "public API listing (docs/public-api.txt)"
python3 scripts/public_api.py "${CARGO_TARGET_DIR:-target}/doc/jwt_layer" | diff -u docs/public-api.txt -
echo "ok: $(wc -l < docs/public-api.txt) lines"

# The benchmarks were type-checked by clippy (all targets of every member) and the examples
# built by the test step; `cargo bench -p jwt-layer-benches` builds and runs the benchmarks.
step "fuzz targets build"
# A plain build: libfuzzer-sys compiles on stable; running the targets needs cargo-fuzz and
# nightly (scripts/fuzz.sh). In the main target directory: the fuzz workspace locks the same
# versions, so its dependencies (aws-lc's C build above all) are the ones already compiled.
CARGO_TARGET_DIR="$PWD/target" cargo build --manifest-path fuzz/Cargo.toml

passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$results" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$results" \
  | awk '{s+=$6} END {print s+0}')
echo
echo "Took $((SECONDS / 60)) min $((SECONDS % 60)) s."
echo "Summary: $passed passed, $failed failed"
if [ "$tests_failed" -ne 0 ] || [ "$failed" -ne 0 ]; then
  exit 1
fi
