#!/usr/bin/env bash
# Memory under a flood: drives the `gateway` example (release build, keys from a JWKS URL on
# loopback) with garbage tokens, then with well-formed tokens naming random unknown `kid`s,
# for FLOOD_SECS seconds in all (default 60, half each), and samples the gateway's resident
# memory (VmRSS) every second. Prints RSS before, at its peak and after, how many times the
# gateway fetched the JWKS during the flood (unknown kids may cause at most one fetch per
# 30 s cooldown), and checks that a valid token is still accepted afterwards. Exits non-zero if
# RSS grew by more than MAX_GROWTH_MIB (default 16) or the valid token was refused.
#
# Settings (environment): FLOOD_SECS (60), CONNECTIONS (32), POOL (distinct tokens per phase,
# 50000), MAX_GROWTH_MIB (16). Installs wrk and PyJWT/cryptography when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

FLOOD_SECS=${FLOOD_SECS:-60}
CONNECTIONS=${CONNECTIONS:-32}
POOL=${POOL:-50000}
MAX_GROWTH_MIB=${MAX_GROWTH_MIB:-16}
source scripts/lib/gateway.sh
ensure_tools
build_gateway

work=$(mktemp -d)
jwks_pid=
sampler_pid=
cleanup() {
  [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null || true
  stop_gateway
  [[ -n "$jwks_pid" ]] && kill "$jwks_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step "generating a key, its JWKS, a valid token and $POOL tokens per phase in $work"
python3 - "$work" "$ISSUER" "$AUDIENCE" "$POOL" <<'PY'
import base64, json, os, random, sys, time
import jwt
from jwt.algorithms import RSAAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa

out, issuer, audience, pool = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
jwk.update(kid="live", alg="RS256", use="sig")
with open(os.path.join(out, "jwks.json"), "w") as f:
    json.dump({"keys": [jwk]}, f)
now = int(time.time())
claims = {"iss": issuer, "aud": audience, "sub": "flood-check", "iat": now, "exp": now + 3600}
with open(os.path.join(out, "valid.token"), "w") as f:
    f.write(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "live"}))

rng = random.Random(7)
b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
with open(os.path.join(out, "garbage.tokens"), "w") as f:
    for i in range(pool):
        shape = i % 4
        if shape == 0:    # random base64url and dots
            token = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 600)))
        elif shape == 1:  # three segments of random bytes
            token = ".".join(b64(os.urandom(rng.randint(1, 300))) for _ in range(3))
        elif shape == 2:  # a JSON header that is not a JWS header
            token = b64(json.dumps({"x": rng.random()}).encode()) + ".e30." + b64(os.urandom(64))
        else:             # long junk near the size cap
            token = b64(os.urandom(rng.randint(4000, 6000)))
        f.write(token + "\n")
signature = b64(os.urandom(256))
payload = b64(json.dumps(claims).encode())
with open(os.path.join(out, "unknown_kid.tokens"), "w") as f:
    for _ in range(pool):
        header = b64(json.dumps({"alg": "RS256", "kid": os.urandom(12).hex()}).encode())
        f.write(f"{header}.{payload}.{signature}\n")
PY

step "serving the JWKS on loopback (a free port), counting fetches"
python3 - "$work" >"$work/jwks.port" 2>"$work/jwks.log" <<'PY' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
jwks_pid=$!
for _ in $(seq 1 50); do [[ -s "$work/jwks.port" ]] && break; sleep 0.1; done
jwks_url="http://127.0.0.1:$(cat "$work/jwks.port")/jwks.json"
fetches() { grep -c 'GET /jwks.json' "$work/jwks.log" || true; }

start_gateway "$work" JWT_ISSUER=$ISSUER JWT_AUDIENCE=$AUDIENCE JWT_JWKS_URL="$jwks_url"
valid=$(cat "$work/valid.token")
[[ $(status -H "Authorization: Bearer $valid" "$base/me") == 200 ]] \
  || { echo "the valid token was refused before the flood" >&2; exit 1; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$gateway_pid/status"; }
cat >"$work/flood.lua" <<'LUA'
-- Cycles through a file of tokens, one per request; each wrk thread starts elsewhere.
local tokens, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  i = math.random(#tokens)
end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", "/me", { ["Authorization"] = "Bearer " .. tokens[i] })
end
LUA

before=$(rss_kib)
fetches_before=$(fetches)
( while kill -0 "$gateway_pid" 2>/dev/null; do rss_kib; sleep 1; done ) >"$work/rss.samples" &
sampler_pid=$!
half=$((FLOOD_SECS / 2))
declare -A requests
for phase in garbage unknown_kid; do
  step "flood: $phase tokens for ${half}s, $CONNECTIONS connections"
  report=$(wrk -t1 -c"$CONNECTIONS" -d"${half}s" -s "$work/flood.lua" "$base/me" -- "$work/$phase.tokens")
  requests[$phase]=$(awk '/requests in/ {print $1}' <<<"$report")
  refused=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$report")
  [[ "${refused:-0}" == "${requests[$phase]}" ]] \
    || { echo "some $phase token was accepted" >&2; echo "$report" >&2; exit 1; }
done
sleep 2
after=$(rss_kib)
kill "$sampler_pid" 2>/dev/null || true
sampler_pid=
peak=$(sort -n "$work/rss.samples" | tail -1)
flood_fetches=$(($(fetches) - fetches_before))
final=$(status -H "Authorization: Bearer $valid" "$base/me")

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
growth=$((after - before))
echo
echo "gateway memory flood: $(nproc) cores, ${FLOOD_SECS}s, $CONNECTIONS connections, loopback"
echo
echo "| phase | requests (all refused) |"
echo "|---|---:|"
echo "| garbage tokens | ${requests[garbage]} |"
echo "| random unknown kids | ${requests[unknown_kid]} |"
echo
echo "RSS before $(mib "$before") MiB, peak $(mib "$peak") MiB, after $(mib "$after") MiB" \
  "(growth $(mib "$growth") MiB, limit $MAX_GROWTH_MIB MiB)"
echo "JWKS fetches during the flood: $flood_fetches (cooldown 30 s: at most $((FLOOD_SECS / 30 + 1)))"
echo "valid token after the flood: HTTP $final"
[[ $final == 200 ]] || { echo "the valid token was refused after the flood" >&2; exit 1; }
(( growth <= MAX_GROWTH_MIB * 1024 )) || { echo "resident memory grew too much" >&2; exit 1; }
(( flood_fetches <= FLOOD_SECS / 30 + 1 )) || { echo "too many JWKS fetches" >&2; exit 1; }
echo "memory flat and fetches bounded: met"
