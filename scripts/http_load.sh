#!/usr/bin/env bash
# What an authenticated request costs over real HTTP: the `gateway` example (release build) on
# loopback, driven by wrk, `/me` (behind the layer) against `/health` (public), for HS256 and
# RS256, with one token reused by every request (the verified-token cache's case) and with a
# token the gateway has not seen on every request (pre-minted pool, cache misses).
#
# Two gateways run side by side: one with `JWT_HS256_SECRET`, one with an RS256 key in
# `JWT_JWKS_FILE`. Every round measures, for each gateway in turn:
#   health        GET /health, no Authorization header
#   health+token  GET /health with the reused token's Authorization header (parsing the longer
#                 request, no verification)
#   me reused     GET /me, the same token on every request
#   health pool   GET /health, a different token header on every request (the same wrk script
#                 as `me fresh`, so the client's own cost is the same)
#   me fresh      GET /me, a different token on every request, cycling through POOL tokens
# The scenarios are interleaved within a round and the rounds repeated, so slow drifts of the
# machine's load hit every scenario alike. Reported per scenario: requests per second and the
# ratio to the plain `/health` of the same gateway in the same round (medians over rounds), the
# gateway's CPU time per request (utime + stime of /proc/PID/stat over the run ÷ requests, so
# the client's CPU is not in it), and the verified-token cache's hit rate (from /metrics).
#
# Settings (environment): ROUNDS (default 3), DURATION (seconds per measured run, 5), WARMUP
# (seconds before each run, 1), CONNECTIONS (32), THREADS (wrk threads, 1), POOL (distinct
# tokens per algorithm, 20000: more than the cache's 4096 entries, so few come round again
# while still cached), PEERS (1: also compare with the peers over HTTP, below; 0: skip).
#
# The peers: benches/http_peers.rs serves, in one process, the routers of benches/budget.rs
# on loopback (no authentication; this crate with its cache; this crate without it;
# jwt-authorizer; tower-oauth2-resource-server), each `GET /me` answering `ok`, for HS256
# and RS256; every round measures each with its one token reused, against the open route. Builds with cargo into CARGO_TARGET_DIR (default target/). Listens on
# 127.0.0.1 only; stops the gateways on exit. Installs wrk (Debian) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
POOL=${POOL:-20000}
PEERS=${PEERS:-1}
SECRET=http-load-secret-0123456789abcdef0123456789

# ISSUER, AUDIENCE, step, ensure_wrk, launch_gateway.
source scripts/lib/gateway.sh
ensure_wrk

step "building the gateway and the token minter (release)"
cargo build --release --quiet --example gateway --example http_load_tokens
bin=${CARGO_TARGET_DIR:-target}/release/examples
gateway=$bin/gateway

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

step "minting 2 x $POOL tokens in $work"
"$bin/http_load_tokens" "$work" "$ISSUER" "$AUDIENCE" "$SECRET" "$POOL"

# wrk script: a different token on every request, cycling through the file given after `--`.
cat >"$work/pool.lua" <<'LUA'
local tokens, n, i = {}, 0, 0
function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    tokens[n] = "Bearer " .. line
  end
end
function request()
  i = i % n + 1
  return wrk.format(nil, nil, { ["Authorization"] = tokens[i] })
end
LUA

# start NAME VAR=VALUE...: a gateway on a free loopback port; sets pid_NAME and base_NAME.
start() {
  local name=$1
  shift
  launch_gateway "$work/$name" JWT_ISSUER=$ISSUER JWT_AUDIENCE=$AUDIENCE "$@"
  pids+=("$launched_pid")
  printf -v "pid_$name" '%s' "$launched_pid"
  printf -v "base_$name" '%s' "$launched_base"
}

start hs256 JWT_HS256_SECRET="$SECRET"
start rs256 JWT_JWKS_FILE="$work/rs256.jwks.json"

status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for alg in hs256 rs256; do
  base_var=base_$alg
  base=${!base_var}
  [[ $(status "$base/health") == 200 ]] || { echo "$alg: /health is not 200" >&2; exit 1; }
  for token in "$(cat "$work/$alg.token")" "$(head -n1 "$work/$alg.tokens")"; do
    code=$(status -H "Authorization: Bearer $token" "$base/me")
    [[ $code == 200 ]] || { echo "$alg: /me answered $code" >&2; exit 1; }
  done
done

if [[ $PEERS == 1 ]]; then
  step "building the peers' servers (benches/http_peers.rs, release)"
  peers_exe=$(cargo bench -p jwt-layer-benches --bench http_peers --no-run 2>&1 |
    sed -n 's/^ *Executable .*(\(.*\))$/\1/p' | tail -n1)
  [[ -x "$peers_exe" ]] || { echo "cannot build benches/http_peers.rs" >&2; exit 1; }
  # It exits by itself after HTTP_PEERS_SECS, in case this script is killed.
  HTTP_PEERS_SECS=$((ROUNDS * 30 * (DURATION + WARMUP) + 120)) \
    "$peers_exe" >"$work/peers.out" 2>"$work/peers.err" &
  peers_pid=$!
  pids+=("$peers_pid")
  for _ in $(seq 1 300); do
    grep -qx ready "$work/peers.out" && break
    kill -0 "$peers_pid" 2>/dev/null || { cat "$work/peers.err" >&2; exit 1; }
    sleep 0.1
  done
  grep -v -x ready "$work/peers.out" >"$work/peers.list"
  while read -r alg name url token; do
    case "$url" in http://127.*) ;; *) echo "refusing a non-loopback address: $url" >&2; exit 1 ;; esac
    code=$(status -H "Authorization: Bearer $token" "$url")
    [[ $code == 200 ]] || { echo "$alg $name answered $code" >&2; exit 1; }
  done <"$work/peers.list"
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cache_lookups() {
  curl -s "$1/metrics" | awk -v want="result=\"$2\"" \
    '$1 ~ /^jwt_layer_token_cache_lookups_total/ && index($1, want) {n += $2} END {print n + 0}'
}
ticks_per_sec=$(getconf CLK_TCK)

# measure ROUND GROUP SCENARIO URL PID METRICS [wrk args...]: a warm-up, then one measured run
# against the server PID (METRICS: its base URL for /metrics, or "-"); appends
# "round group scenario requests/s cpu-µs/request hits misses non-2xx" to the results.
measure() {
  local round=$1 group=$2 scenario=$3 url=$4 pid=$5 metrics=$6
  shift 6
  # Options for wrk, then (after `--`) the arguments of its script, which follow the URL.
  local args=(-t"$THREADS" -c"$CONNECTIONS") script_args=()
  while (($#)); do
    [[ $1 == -- ]] && { shift; script_args=("$@"); break; }
    args+=("$1")
    shift
  done
  wrk "${args[@]}" -d"${WARMUP}s" "$url" "${script_args[@]}" >/dev/null
  local hits0=0 misses0=0 hits=0 misses=0 ticks0 ticks1 report
  if [[ $metrics != - ]]; then
    hits0=$(cache_lookups "$metrics" hit)
    misses0=$(cache_lookups "$metrics" miss)
  fi
  ticks0=$(cpu_ticks "$pid")
  report=$(wrk "${args[@]}" -d"${DURATION}s" "$url" "${script_args[@]}")
  ticks1=$(cpu_ticks "$pid")
  if [[ $metrics != - ]]; then
    hits=$(($(cache_lookups "$metrics" hit) - hits0))
    misses=$(($(cache_lookups "$metrics" miss) - misses0))
  fi
  local requests rps bad cpu_us
  requests=$(awk '/ requests in / {print $1}' <<<"$report")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$report")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$report")
  cpu_us=$(awk -v t="$((ticks1 - ticks0))" -v hz="$ticks_per_sec" -v n="$requests" \
    'BEGIN {printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0)}')
  echo "$round $group $scenario ${rps:-0} $cpu_us $hits $misses ${bad:-0}" >>"$work/results"
  printf '    round %s %-11s %-28s %10s req/s %7s us/req (server CPU)\n' \
    "$round" "$group" "$scenario" "${rps:-0}" "$cpu_us" >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
step "measuring: $ROUNDS rounds, ${DURATION}s per run (+${WARMUP}s warm-up), $CONNECTIONS connections, $THREADS wrk thread(s); load average $load_before"
: >"$work/results"
for round in $(seq 1 "$ROUNDS"); do
  for alg in hs256 rs256; do
    pid_var=pid_$alg base_var=base_$alg
    pid=${!pid_var} base=${!base_var}
    auth="Authorization: Bearer $(cat "$work/$alg.token")"
    pool=(-s "$work/pool.lua" -- "$work/$alg.tokens")
    measure "$round" "$alg" health "$base/health" "$pid" "$base"
    measure "$round" "$alg" health+token "$base/health" "$pid" "$base" -H "$auth"
    measure "$round" "$alg" me-reused "$base/me" "$pid" "$base" -H "$auth"
    measure "$round" "$alg" health-pool "$base/health" "$pid" "$base" "${pool[@]}"
    measure "$round" "$alg" me-fresh "$base/me" "$pid" "$base" "${pool[@]}"
  done
  if [[ $PEERS == 1 ]]; then
    while read -r alg name url token; do
      measure "$round" "peers-$alg" "$name" "$url" "$peers_pid" - \
        -H "Authorization: Bearer $token"
    done <"$work/peers.list"
  fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "HTTP load of the gateway example: $(nproc) cores shared by the servers and wrk," \
  "$CONNECTIONS connections, $THREADS wrk thread(s), $ROUNDS rounds of ${DURATION}s runs," \
  "loopback; load average before $load_before, after $load_after"
echo
echo "Medians over rounds. req/s ratio: requests/s ÷ those of the base route (/health; for the"
echo "peers the open route) in the same round on the same server. CPU: the server's user+system"
echo "time per request; CPU ratio: the base route's CPU per request ÷ this one's, the throughput"
echo "ratio of a server that is the bottleneck. me-fresh per miss: its CPU with the cache's hits"
echo "taken out, (CPU - hit rate × me-reused's CPU) ÷ miss rate."
echo
awk '
  function median(list,   parts, n, i, j, t) {
    n = split(list, parts, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (parts[j] + 0 < parts[i] + 0) { t = parts[i]; parts[i] = parts[j]; parts[j] = t }
    return n % 2 ? parts[(n + 1) / 2] : (parts[n / 2] + parts[n / 2 + 1]) / 2
  }
  {
    round = $1; group = $2; scenario = $3; key = group " " scenario
    rps[round, key] = $4; cpu[round, key] = $5
    if (!(key in seen)) { seen[key] = 1; order[++count] = key }
    rounds[round] = 1
    H[key] += $6; M[key] += $7; B[key] += $8
    if (scenario == "health" || scenario == "open") base[group] = key
  }
  END {
    for (i = 1; i <= count; i++) {
      key = order[i]; split(key, p, " "); b = base[p[1]]
      for (r in rounds) {
        R[key] = R[key] " " rps[r, key]; C[key] = C[key] " " cpu[r, key]
        RR[key] = RR[key] " " (rps[r, b] > 0 ? rps[r, key] / rps[r, b] : 0)
        CR[key] = CR[key] " " (cpu[r, key] > 0 ? cpu[r, b] / cpu[r, key] : 0)
      }
    }
    printf "| %-11s | %-28s | %8s | %11s | %8s | %9s | %9s | %7s |\n", "server", "scenario", "req/s", "req/s ratio", "CPU/req", "CPU ratio", "cache hit", "non-2xx"
    print "|-------------|------------------------------|---------:|------------:|---------:|----------:|----------:|--------:|"
    for (i = 1; i <= count; i++) {
      key = order[i]; split(key, p, " ")
      lookups = H[key] + M[key]
      hit = lookups > 0 ? sprintf("%.1f%%", 100 * H[key] / lookups) : "-"
      printf "| %-11s | %-28s | %8.0f | %11.2f | %5.1f µs | %9.2f | %9s | %7d |\n", toupper(p[1]), p[2], median(R[key]), median(RR[key]), median(C[key]), median(CR[key]), hit, B[key]
    }
    for (i = 1; i <= count; i++) {
      key = order[i]; split(key, p, " ")
      if (p[2] != "me-fresh" || H[key] + M[key] == 0) continue
      h = H[key] / (H[key] + M[key]); reused = median(C[p[1] " me-reused"])
      if (h < 1) printf "%s me-fresh per miss: %.1f µs of CPU (%.1f%% hits at %.1f µs)\n", toupper(p[1]), (median(C[key]) - h * reused) / (1 - h), 100 * h, reused
    }
    # The peers: this crate (with and without its cache) against each peer, per round.
    for (i = 1; i <= count; i++) {
      key = order[i]; split(key, p, " ")
      if (p[1] !~ /^peers-/ || p[2] == "open" || p[2] ~ /^jwt-layer/) continue
      if (!header++) {
        print ""
        printf "| %-11s | %-18s ÷ %-28s | %9s | %9s |\n", "peers", "this crate", "peer", "req/s", "CPU"
        print "|-------------|-----------------------------------------------------|----------:|----------:|"
      }
      for (j = 1; j <= 2; j++) {
        ours = p[1] " " (j == 1 ? "jwt-layer" : "jwt-layer-uncached"); rr = ""; cr = ""
        for (r in rounds) {
          rr = rr " " (rps[r, key] > 0 ? rps[r, ours] / rps[r, key] : 0)
          cr = cr " " (cpu[r, ours] > 0 ? cpu[r, key] / cpu[r, ours] : 0)
        }
        split(ours, q, " ")
        printf "| %-11s | %-18s ÷ %-28s | %9.2f | %9.2f |\n", toupper(substr(p[1], 7)), q[2], p[2], median(rr), median(cr)
      }
    }
  }' "$work/results"
