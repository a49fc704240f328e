#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the independent fixtures.

Run from the repository root: python3 fuzz/seeds/make_seeds.py
Each seed is a file named after what it is; the targets' input formats are described at the
top of fuzz/fuzz_targets/*.rs. (The discovery_document and dpop_proof seeds are written by
hand and by make_dpop_seeds.py.)
"""
import base64
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "independent"
SEEDS = ROOT / "fuzz" / "seeds"


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def write(target, name, data):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


tokens = json.loads((FIXTURES / "tokens.json").read_text())

# bearer_header: Authorization value, then optional "\n" cookie, "\n" query string.
for t in tokens:
    token = t["token"]
    write("bearer_header", t["name"], f"Bearer {token}")
write("bearer_header", "lowercase_scheme", "bearer " + tokens[0]["token"])
write("bearer_header", "basic", "Basic dXNlcjpwYXNz")
write("bearer_header", "bearer_alone", "Bearer")
write("bearer_header", "bearer_two_tokens", "Bearer a.b.c d.e.f")
write("bearer_header", "bearer_auth_param", 'Bearer a.b.c, realm="x"')
write("bearer_header", "obs_text", b"Bearer \xfc\xff.a.b")
write("bearer_header", "cookie_only", "\ntheme=dark; id=" + tokens[0]["token"])
write("bearer_header", "query_only", "\n\naccess_token=" + tokens[3]["token"])
write("bearer_header", "query_percent", "\n\naccess_token=%41%2e%zz&access_token=x")
write("bearer_header", "header_and_query", "Bearer a.b.c\n\naccess_token=a.b.c")

# jose_header: header JSON, "\0", signature bytes.
for t in tokens:
    parts = t["token"].split(".")
    if len(parts) != 3:
        continue
    try:
        header, signature = unb64(parts[0]), unb64(parts[2])
    except Exception:
        continue
    write("jose_header", t["name"], header + b"\0" + signature)
for name, header in {
    "kid_traversal": '{"alg":"RS256","kid":"../../etc/passwd"}',
    "kid_nested": '{"alg":"ES256","kid":{"a":1}}',
    "jwk_embedded": '{"alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}',
    "crit_empty": '{"alg":"HS256","crit":[]}',
    "b64_true": '{"alg":"HS256","kid":"hs256","b64":true}',
    "escaped_alg": '{"alg":"H\\u0053256","kid":"hs256"}',
    "unicode_kid": '{"alg":"EdDSA","kid":"\\ud83d\\ude00"}',
    "deep": '{"alg":"HS256","x":' + "[" * 150 + "]" * 150 + "}",
}.items():
    write("jose_header", name, header.encode() + b"\0" + bytes(64))

# verify_signed: header JSON, "\0", payload JSON (the target signs them).
for t in tokens:
    parts = t["token"].split(".")
    if len(parts) != 3:
        continue
    try:
        header, payload = unb64(parts[0]), unb64(parts[1])
        json.loads(header)
    except Exception:
        continue
    write("verify_signed", t["name"], header + b"\0" + payload)
good = '{"iss":"https://issuer.example","aud":"jwt-layer-tests","exp":1700000600'
for name, (header, payload) in {
    "hs256_minimal": ('{"alg":"HS256"}', good + "}"),
    "hs384_kid": ('{"alg":"HS384","kid":"hs384"}', good + ',"nbf":1700000000}'),
    "hs512_aud_array": ('{"alg":"HS512"}', good.replace('"jwt-layer-tests"', '["x","jwt-layer-tests"]') + "}"),
    "exp_float": ('{"alg":"HS256"}', good + '.5,"iat":1.7e9}'),
    "exp_exponent": ('{"alg":"HS256"}', '{"iss":"https://issuer.example","aud":"jwt-layer-tests","exp":1.7000006e9}'),
    "exp_escaped_key": ('{"alg":"HS256"}', '{"iss":"https://issuer.example","aud":"jwt-layer-tests","\\u0065xp":1700000600}'),
    "dup_exp": ('{"alg":"HS256"}', good + ',"exp":1}'),
    "nested_dup": ('{"alg":"HS256"}', good + ',"x":{"a":1,"a":2}}'),
    "iss_escaped": ('{"alg":"HS256"}', '{"iss":"https:\\/\\/issuer.example","aud":"jwt-layer-tests","exp":1700000600}'),
    "scope_array": ('{"alg":"HS256"}', good + ',"scp":["a","b"],"scope":"c"}'),
    "cnf": ('{"alg":"HS256","typ":"at+jwt"}', good + ',"cnf":{"jkt":"abc"}}'),
}.items():
    write("verify_signed", name, header.encode() + b"\0" + payload.encode())

# jwks_document: whole sets, single keys, PEM and DER.
jwks = json.loads((FIXTURES / "jwks.json").read_text())
write("jwks_document", "fixture_jwks", json.dumps(jwks))
for key in jwks["keys"]:
    write("jwks_document", "jwk_" + key["kid"], json.dumps(key))
    without_alg = {k: v for k, v in key.items() if k != "alg"}
    write("jwks_document", "jwks_no_alg_" + key["kid"], json.dumps({"keys": [without_alg]}))
for path in sorted((FIXTURES / "pem").iterdir()):
    write("jwks_document", path.name, path.read_bytes())
write("jwks_document", "empty_keys", '{"keys":[]}')
write("jwks_document", "keys_not_array", '{"keys":{}}')
write("jwks_document", "unknown_kty", '{"keys":[{"kty":"XYZ"},{"kty":"oct","k":"AAAA","alg":"HS256"}]}')
