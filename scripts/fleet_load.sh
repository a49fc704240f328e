#!/usr/bin/env bash
# DPoP load on a fleet: two `gateway` processes (release build) sharing one redis-server, beside
# the same load on gateways that keep proofs in process. On loopback only.
#
# Every request is `GET /me` with one DPoP-bound RS256 access token and a fresh ES256 proof
# (RFC 9449), pre-generated and sent once each: wrk's Lua script gives each wrk thread its own
# slice of a proof file. Three setups, one after the other, each with a warm-up then a measured
# run, CONNECTIONS in all split evenly between the gateways (one wrk process per gateway, run
# at the same time, results summed):
#   1. in process, one gateway;
#   2. in process, two gateways (each remembers only its own proofs: not a fleet);
#   3. Redis, two gateways (`JWT_REDIS_URL`): each proof is recorded with one `SET NX`, one
#      round trip. The gateway also checks each token against the revocations in Redis, by its
#      `jti` and `sub`; the token has neither unless REVOCATION=1, which adds a second round
#      trip (two GETs sent together) per request.
# Prints requests/s, p50 and p99 per gateway and for the setup (sum of requests/s, worse p50
# and p99), the Redis commands per request, and the Redis fleet's throughput relative to two
# in-process gateways. Fails if any measured request is not answered 2xx, if a wrk thread ran
# out of proofs, or if a proof used on one gateway of the fleet is not refused (401) by the
# other. The warm-up's rate sizes the measured run's proofs (1.5 × plus a margin).
#
# Settings (environment): CONNECTIONS (default 32), THREADS (wrk threads per wrk process,
# default 1), DURATION (seconds per measured run, default 5), WARMUP (seconds, default 2),
# REVOCATION (0 or 1, default 0). A proof is accepted for 60 s after its `iat`, so WARMUP +
# DURATION may be at most 45; an in-process store holds 100 000 proofs, which a fast gateway
# fills in a few seconds (the script says so and stops rather than measure 503s).
# Installs wrk and redis-server (Debian) and cryptography (pip) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
REVOCATION=${REVOCATION:-0}
(( WARMUP + DURATION <= 45 )) || { echo "WARMUP + DURATION must be at most 45 s (proofs live 60 s)" >&2; exit 1; }
(( CONNECTIONS >= 2 * THREADS )) || { echo "CONNECTIONS must be at least 2 × THREADS" >&2; exit 1; }
source scripts/lib/gateway.sh
ensure_tools
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  step "installing redis-server"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
build_gateway

# The origin the proofs' `htu` names (the gateways' JWT_PUBLIC_URL); never contacted.
PUBLIC_URL=http://api.example.test
PREFIX=fleet-load:
proofs_py=scripts/lib/dpop_proofs.py
proofs_lua=scripts/lib/dpop_proofs.lua

work=$(mktemp -d)
pids=()
wrk_pids=()
redis_pid=
stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  local pid
  for pid in "${wrk_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_all
  if [[ -n "$redis_pid" ]]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "generating the issuer's key, the client's DPoP key and a bound token in $work"
python3 "$proofs_py" setup "$work" "$ISSUER" "$AUDIENCE" "$PUBLIC_URL" "$REVOCATION"

step "starting redis-server on 127.0.0.1 (a free port)"
redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  >"$work/redis.log" 2>&1 &
redis_pid=$!
rcli() { redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }
for _ in $(seq 1 100); do
  [[ $(rcli ping 2>/dev/null) == PONG ]] && break
  kill -0 "$redis_pid" 2>/dev/null || { cat "$work/redis.log" >&2; exit 1; }
  sleep 0.1
done
[[ $(rcli ping 2>/dev/null) == PONG ]] || { echo "redis-server did not start" >&2; exit 1; }

# start_fleet N [VAR=VALUE...]: N gateways with the same keys and settings; sets bases and
# remembers the arguments for restart_fleet.
bases=()
fleet_args=()
start_fleet() {
  local n=$1 i
  fleet_args=("$@")
  shift
  bases=()
  for i in $(seq 1 "$n"); do
    mkdir -p "$work/gw$i"
    start_gateway "$work/gw$i" JWT_ISSUER=$ISSUER JWT_AUDIENCE=$AUDIENCE \
      JWT_JWKS_FILE="$work/jwks.json" JWT_DPOP=required JWT_PUBLIC_URL=$PUBLIC_URL "$@"
    pids+=("$gateway_pid")
    bases+=("$base")
  done
}

# The in-process store holds 100 000 live proofs per gateway (remembered 70 s) and then
# answers 503; restarting after the warm-up gives the measured run all of them. The Redis
# fleet is restarted and Redis emptied the same way, so both start alike.
restart_fleet() {
  stop_all
  [[ -n "$redis_url" ]] && rcli flushall >/dev/null
  start_fleet "${fleet_args[@]}"
}

# dpop_status BASE PROOF: the status of GET /me with the token and that proof (000: no answer).
dpop_status() {
  status -H "Authorization: DPoP $(cat "$work/token")" -H "DPoP: $2" "$1/me" || true
}

# wrk_all NAME SECONDS PROOFS: one wrk per gateway at once, each with PROOFS fresh proofs and
# CONNECTIONS / (number of gateways) connections; reports in $work/NAME.N.
wrk_all() {
  local name=$1 seconds=$2 count=$3 i files=()
  wrk_pids=()
  for i in "${!bases[@]}"; do files+=("$work/$name.$i.proofs"); done
  python3 "$proofs_py" proofs "$work" "$count" "${files[@]}"
  local connections=$(( CONNECTIONS / ${#bases[@]} ))
  for i in "${!bases[@]}"; do
    wrk -t"$THREADS" -c"$connections" -d"${seconds}s" --latency -s "$proofs_lua" \
      "${bases[$i]}/me" -- "${files[$i]}" "$work/token" "$THREADS" >"$work/$name.$i" &
    wrk_pids+=($!)
  done
  for i in "${!wrk_pids[@]}"; do wait "${wrk_pids[$i]}"; done
  wrk_pids=()
  # wrk calls thread 1's request() once before the run to check it, so that thread's first
  # proof is never sent; its second (line 1 + THREADS) is its first request, kept for the
  # replay check.
  for i in "${!files[@]}"; do
    sed -n "$((1 + THREADS))p" "${files[$i]}" >"${files[$i]}.first"
    rm -f "${files[$i]}"
  done
}

# field REPORT WHAT: requests/s, p50, p99, non-2xx, socket errors, requests or exhausted.
field() {
  case $2 in
    rps) awk '/^Requests\/sec:/ {print $2}' "$1" ;;
    p50) awk '$1 == "50%" {print $2}' "$1" ;;
    p99) awk '$1 == "99%" {print $2}' "$1" ;;
    bad) awk '/Non-2xx or 3xx responses:/ {print $5}' "$1" | grep . || echo 0 ;;
    errors) sed -n 's/^ *Socket errors: *//p' "$1" | grep . || echo none ;;
    requests) awk '/ requests in / {print $1}' "$1" ;;
    exhausted) awk '/^proofs exhausted:/ {print $3}' "$1" ;;
  esac
}

# In microseconds, for comparing wrk's latencies ("850.00us", "1.23ms", "2.01s").
micros() {
  awk -v t="$1" 'BEGIN {
    n = t + 0
    if (t ~ /us$/) print n; else if (t ~ /ms$/) print n * 1000; else if (t ~ /s$/) print n * 1e6
    else print n }'
}

# check_fleet LABEL: every gateway must accept a fresh proof before anything is measured (with
# Redis, this also makes each gateway's connection).
check_fleet() {
  local i code
  python3 "$proofs_py" proofs "$work" "${#bases[@]}" "$work/check.proofs"
  for i in "${!bases[@]}"; do
    code=$(dpop_status "${bases[$i]}" "$(sed -n "$((i + 1))p" "$work/check.proofs")")
    [[ $code == 200 ]] || { echo "$1: gateway $((i + 1)) answered $code" >&2; exit 1; }
  done
}

# later THAN: whether wrk latency $1 is larger than $2.
later() { awk -v a="$(micros "$1")" -v b="$(micros "$2")" 'BEGIN {exit !(a > b)}'; }

rows=()
failed=0
# measure NAME LABEL: warm-up (its rate sizes the measured run), measured run, one table row
# per gateway and one for the setup.
measure() {
  local name=$1 label=$2 n=${#bases[@]} i
  check_fleet "$label"

  # Warm-up with an assumed 10 000 requests/s per gateway; retried with four times as many
  # proofs while a thread runs out (wrk divides by the whole duration, so that rate is low).
  local rate=10000 warm_requests=0 exhausted
  while :; do
    step "$label: warm-up ${WARMUP}s"
    wrk_all "$name.warmup" "$WARMUP" $(( rate * WARMUP ))
    exhausted=0 warm_requests=0
    for i in "${!bases[@]}"; do
      exhausted=$(( exhausted + $(field "$work/$name.warmup.$i" exhausted) ))
      warm_requests=$(( warm_requests + $(field "$work/$name.warmup.$i" requests) ))
    done
    (( exhausted == 0 )) && break
    (( rate *= 4, rate <= 1280000 )) || { echo "$label: warm-up keeps running out of proofs" >&2; exit 1; }
  done
  local count=$(( warm_requests * DURATION * 3 / (2 * WARMUP * n) + 2000 ))
  if [[ -z "$redis_url" ]] && (( warm_requests * DURATION / (WARMUP * n) > 95000 )); then
    echo "$label: about $(( warm_requests * DURATION / (WARMUP * n) )) requests per gateway" \
      "expected, more than the in-process store's 100 000 proofs: lower DURATION" >&2
    exit 1
  fi

  restart_fleet
  check_fleet "$label"
  [[ -n "$redis_url" ]] && rcli config resetstat >/dev/null
  step "$label: measuring ${DURATION}s, $count proofs per gateway"
  wrk_all "$name" "$DURATION" "$count"

  local total_rps=0 worst_p50= worst_p99= total_bad=0 total_requests=0 total_errors=none
  for i in "${!bases[@]}"; do
    local report="$work/$name.$i" rps p50 p99 bad errors
    rps=$(field "$report" rps) p50=$(field "$report" p50) p99=$(field "$report" p99)
    bad=$(field "$report" bad) errors=$(field "$report" errors)
    exhausted=$(field "$report" exhausted)
    if (( exhausted > 0 )); then
      echo "$label: gateway $((i + 1)): $exhausted wrk thread(s) ran out of proofs" >&2
      failed=1
    fi
    (( bad == 0 )) || failed=1
    if [[ $errors != none ]]; then
      if (( n > 1 )); then total_errors="see each gateway"; else total_errors=$errors; fi
    fi
    total_rps=$(awk -v a="$total_rps" -v b="$rps" 'BEGIN {printf "%.2f", a + b}')
    total_bad=$(( total_bad + bad ))
    total_requests=$(( total_requests + $(field "$report" requests) ))
    if [[ -z "$worst_p50" ]] || later "$p50" "$worst_p50"; then worst_p50=$p50; fi
    if [[ -z "$worst_p99" ]] || later "$p99" "$worst_p99"; then worst_p99=$p99; fi
    if (( n > 1 )); then rows+=("$label|gateway $((i + 1))|$rps|$p50|$p99|$bad|$errors"); fi
  done
  rows+=("$label|all|$total_rps|$worst_p50|$worst_p99|$total_bad|$total_errors")
  declare -g "${name}_rps=$total_rps" "${name}_requests=$total_requests"
}

step "setup 1: in-process replay store, one gateway"
redis_url=
start_fleet 1
measure inproc1 "in process, 1 gateway"
stop_all

step "setup 2: in-process replay stores, two gateways"
start_fleet 2
measure inproc2 "in process, 2 gateways"
# Not a fleet: each gateway remembers only its own proofs.
python3 "$proofs_py" proofs "$work" 1 "$work/fresh.proofs"
fresh=$(cat "$work/fresh.proofs")
separate="in process, a fresh proof: gateway 1 $(dpop_status "${bases[0]}" "$fresh"), then gateway 2 $(dpop_status "${bases[1]}" "$fresh")"
stop_all

step "setup 3: two gateways sharing redis-server on port $redis_port"
redis_url="redis://127.0.0.1:$redis_port/"
start_fleet 2 JWT_REDIS_URL="$redis_url" JWT_REDIS_PREFIX=$PREFIX
measure redis2 "Redis, 2 gateways"
stats=$(rcli info commandstats)
calls() { sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" <<<"$stats" | grep . || echo 0; }
per_request() { awk -v c="$1" -v r="$redis2_requests" 'BEGIN {printf "%.2f", (r > 0 ? c / r : 0)}'; }
redis_set=$(per_request "$(calls set)") redis_get=$(per_request "$(calls get)")

# The fleet shares its proofs: the first proof gateway 1 accepted in the measured run is a
# replay to gateway 2; so is a fresh proof gateway 1 has just accepted.
replay_status=$(dpop_status "${bases[1]}" "$(cat "$work/redis2.0.proofs.first")")
python3 "$proofs_py" proofs "$work" 1 "$work/fresh.proofs"
fresh=$(cat "$work/fresh.proofs")
first=$(dpop_status "${bases[0]}" "$fresh")
again=$(dpop_status "${bases[1]}" "$fresh")
replay="a proof from the run, sent to gateway 2: $replay_status; a fresh proof: gateway 1 $first, then gateway 2 $again"
[[ $replay_status == 401 && $first == 200 && $again == 401 ]] || failed=1
stop_all

echo
echo "fleet DPoP load test: $(nproc) cores (gateways, redis-server and wrk share them)," \
  "$CONNECTIONS connections in all, $THREADS wrk thread(s) per gateway, ${DURATION}s measured" \
  "(+${WARMUP}s warm-up), loopback; token with sub and jti: $( ((REVOCATION)) && echo yes || echo no)"
echo
printf '| %-22s | %-9s | %9s | %8s | %8s | %7s | %s |\n' setup gateway "req/s" p50 p99 non-2xx "socket errors"
echo "|------------------------|-----------|----------:|---------:|---------:|--------:|---------------|"
for line in "${rows[@]}"; do
  IFS='|' read -r label gw rps p50 p99 bad errors <<<"$line"
  printf '| %-22s | %-9s | %9s | %8s | %8s | %7s | %s |\n' "$label" "$gw" "$rps" "$p50" "$p99" "$bad" "$errors"
done
echo
echo "Redis commands per measured request: SET $redis_set, GET $redis_get"
ratio=$(awk -v a="$redis2_rps" -v b="$inproc2_rps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
echo "Redis fleet vs two in-process gateways (req/s): $ratio"
echo "replay check: $replay"
echo "for contrast: $separate"
if (( failed )); then
  echo "FAILED: a request was refused, a thread ran out of proofs, or the replay was accepted" >&2
  exit 1
fi
