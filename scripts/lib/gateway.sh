# Shared by the load scripts (load.sh, flood.sh, fleet_load.sh, http_load.sh): tools, the
# release gateway, and starting and stopping it on loopback. Source it from the repository root.

# The issuer and audience the gateway is started with and the tokens are minted for.
ISSUER=https://login.example.com/
AUDIENCE=https://api.example.com

step() { printf '==> %s\n' "$*" >&2; }

# wrk (Debian), when missing.
ensure_wrk() {
  if ! command -v wrk >/dev/null 2>&1; then
    step "installing wrk"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
}

# wrk and PyJWT/cryptography (pip, to mint tokens), when missing.
ensure_tools() {
  ensure_wrk
  if ! python3 -c 'import jwt, cryptography' 2>/dev/null; then
    step "installing PyJWT and cryptography"
    python3 -m pip install --quiet PyJWT cryptography
  fi
}

build_gateway() {
  step "building the gateway example (release)"
  cargo build --release --example gateway --quiet
  gateway=${CARGO_TARGET_DIR:-target}/release/examples/gateway
}

# launch_gateway OUT [VAR=VALUE...]: starts $gateway on a free loopback port with the given
# environment, its output in OUT.out and OUT.err; sets launched_pid and launched_base
# (http://127.0.0.1:PORT) once it listens, and exits the script if it does not.
launched_pid=
launched_base=
launch_gateway() {
  local out=$1
  shift
  env BIND=127.0.0.1:0 RUST_LOG=warn "$@" "$gateway" >"$out.out" 2>"$out.err" &
  launched_pid=$!
  local addr=
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/^listening on //p' "$out.out")
    [[ -n "$addr" ]] && break
    kill -0 "$launched_pid" 2>/dev/null || { cat "$out.err" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n "$addr" ]] || { echo "gateway did not start" >&2; exit 1; }
  case "$addr" in 127.*) ;; *) echo "refusing to load a non-loopback address: $addr" >&2; exit 1 ;; esac
  launched_base="http://$addr"
}

# start_gateway WORKDIR [VAR=VALUE...]: starts the gateway on a free loopback port with the
# given environment; sets gateway_pid and base (http://127.0.0.1:PORT).
gateway_pid=
start_gateway() {
  local work=$1
  shift
  step "starting the gateway on 127.0.0.1 (a free port)"
  launch_gateway "$work/gateway" "$@"
  gateway_pid=$launched_pid
  base=$launched_base
}

stop_gateway() {
  if [[ -n "$gateway_pid" ]] && kill -0 "$gateway_pid" 2>/dev/null; then
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
}

# status URL [curl args...]: the HTTP status code of one request.
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
