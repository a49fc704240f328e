#!/usr/bin/env bash
# HTTP-level load test of the `gateway` example, on loopback only.
#
# Starts the gateway (release build) with a JWKS generated here (an HS256 `oct` key, an RS256
# and an ES256 key), then drives it with wrk at one concurrency: GET /health (no auth) and
# GET /me with an HS256, an RS256 and an ES256 token. Prints requests/s, p50 and p99 per
# scenario and each one's throughput relative to /health; the target is /me with HS256 at
# ≥ 0.9 × /health. Stops the gateway afterwards. Installs wrk (Debian) and PyJWT/cryptography
# (pip, to mint the tokens) when they are missing.
#
# Settings (environment): CONNECTIONS (default 32), THREADS (wrk threads, default 1),
# DURATION (seconds per scenario, default 10), WARMUP (seconds, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
source scripts/lib/gateway.sh
ensure_tools
build_gateway

work=$(mktemp -d)
cleanup() {
  stop_gateway
  rm -rf "$work"
}
trap cleanup EXIT

step "generating keys, JWKS and tokens in $work"
python3 - "$work" "$ISSUER" "$AUDIENCE" <<'PY'
import json, os, sys, time
import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa

out, issuer, audience = sys.argv[1:4]
secret = os.urandom(32)
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_key = ec.generate_private_key(ec.SECP256R1())

def public_jwk(alg_impl, key, kid, alg):
    jwk = json.loads(alg_impl.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg=alg, use="sig")
    return jwk

oct_jwk = {"kty": "oct", "kid": "hs", "alg": "HS256", "use": "sig",
           "k": jwt.utils.base64url_encode(secret).decode()}
jwks = {"keys": [oct_jwk,
                 public_jwk(RSAAlgorithm, rsa_key, "rs", "RS256"),
                 public_jwk(ECAlgorithm, ec_key, "es", "ES256")]}
with open(os.path.join(out, "jwks.json"), "w") as f:
    json.dump(jwks, f)

now = int(time.time())
# The same ~330-byte claims as benches/common/mod.rs.
claims = {"iss": issuer, "aud": audience, "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
          "iat": now, "nbf": now, "exp": now + 3600, "jti": "b7c4e0f2-7d4e-4b8e-9c1a-2f3d4e5f6a7b",
          "name": "Alice Example", "email": "alice@example.com",
          "roles": ["reader", "writer"], "scope": "openid profile email read:items write:items"}
for alg, key, kid in [("HS256", secret, "hs"), ("RS256", rsa_key, "rs"), ("ES256", ec_key, "es")]:
    token = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
    with open(os.path.join(out, f"{alg}.token"), "w") as f:
        f.write(token)
PY

start_gateway "$work" JWT_ISSUER=$ISSUER JWT_AUDIENCE=$AUDIENCE JWT_JWKS_FILE="$work/jwks.json"

# Every scenario must answer 200 before it is measured.
[[ $(status "$base/health") == 200 ]] || { echo "/health is not 200" >&2; exit 1; }
for alg in HS256 RS256 ES256; do
  code=$(status -H "Authorization: Bearer $(cat "$work/$alg.token")" "$base/me")
  [[ $code == 200 ]] || { echo "/me with $alg answered $code" >&2; exit 1; }
done

# run NAME URL [TOKEN]: a warm-up, then one measured wrk run; prints
# "NAME|req/s|p50|p99|non-2xx|socket errors".
run() {
  local name=$1 url=$2 token=${3:-}
  local args=(-t"$THREADS" -c"$CONNECTIONS" --latency)
  [[ -n "$token" ]] && args+=(-H "Authorization: Bearer $token")
  wrk "${args[@]}" -d"${WARMUP}s" "$url" >/dev/null
  local report
  report=$(wrk "${args[@]}" -d"${DURATION}s" "$url")
  local rps p50 p99 bad errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$report")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$report")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$report")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$report")
  errors=$(sed -n 's/^ *Socket errors: *//p' <<<"$report")
  echo "$name|${rps:-0}|${p50:-?}|${p99:-?}|${bad:-0}|${errors:-none}"
}

step "measuring: $CONNECTIONS connections, $THREADS wrk thread(s), ${DURATION}s per scenario (+${WARMUP}s warm-up)"
results=()
results+=("$(run "GET /health (no auth)" "$base/health")")
for alg in HS256 RS256 ES256; do
  results+=("$(run "GET /me $alg" "$base/me" "$(cat "$work/$alg.token")")")
done

IFS='|' read -r _ health_rps _ <<<"${results[0]}"
echo
echo "gateway load test: $(nproc) cores (gateway and wrk share them), $CONNECTIONS connections," \
  "$THREADS wrk thread(s), ${DURATION}s per scenario, loopback"
echo
printf '| %-21s | %9s | %8s | %8s | %9s | %7s | %s |\n' scenario "req/s" p50 p99 "vs health" non-2xx "socket errors"
echo "|-----------------------|----------:|---------:|---------:|----------:|--------:|---------------|"
hs256_ratio=0
for line in "${results[@]}"; do
  IFS='|' read -r name rps p50 p99 bad errors <<<"$line"
  ratio=$(awk -v a="$rps" -v b="$health_rps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
  printf '| %-21s | %9s | %8s | %8s | %9s | %7s | %s |\n' "$name" "$rps" "$p50" "$p99" "$ratio" "$bad" "$errors"
  [[ "$name" == "GET /me HS256" ]] && hs256_ratio=$ratio
done
echo
verdict=$(awk -v r="$hs256_ratio" 'BEGIN {print (r >= 0.9 ? "met" : "not met")}')
echo "target: /me HS256 >= 0.90 x /health throughput: ${hs256_ratio} (${verdict})"
