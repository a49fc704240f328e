#!/usr/bin/env python3
"""Writes the dpop_proof seeds: proof header JSON, NUL, proof claims JSON.

The proof key is the Ed25519 key of seed [7] * 32 (as in fuzz_targets/dpop_proof.rs); the
access token is rebuilt exactly as the target builds it, so `ath` matches. Needs
python-cryptography. Run from anywhere: python3 fuzz/seeds/make_dpop_seeds.py
"""
import base64
import hashlib
import hmac
import json
import pathlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "fuzz" / "seeds" / "dpop_proof"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value, sort=False):
    return json.dumps(value, separators=(",", ":"), sort_keys=sort)


key = Ed25519PrivateKey.from_private_bytes(bytes([7] * 32))
x = b64(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
jkt = b64(hashlib.sha256(compact({"crv": "Ed25519", "kty": "OKP", "x": x}).encode()).digest())
jwks = json.loads((ROOT / "tests" / "fixtures" / "independent" / "jwks.json").read_text())
k = next(k["k"] for k in jwks["keys"] if k["kid"] == "hs256")
secret = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
# serde_json (without preserve_order) writes object members sorted by name.
claims = compact({"iss": "https://issuer.example", "aud": "jwt-layer-tests", "sub": "u",
                  "exp": 4102444800, "cnf": {"jkt": jkt}}, sort=True)
signing_input = b64(b'{"alg":"HS256","kid":"hs256"}') + "." + b64(claims.encode())
token = signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
ath = b64(hashlib.sha256(token.encode()).digest())

header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}}


def proof_claims(**changes):
    value = {"jti": "seed-1", "htm": "GET", "htu": "https://api.example/me", "iat": 1700000000,
             "ath": ath}
    value.update(changes)
    return value


def write(name, head, body):
    OUT.mkdir(parents=True, exist_ok=True)
    body = body if isinstance(body, bytes) else compact(body).encode()
    (OUT / name).write_bytes(compact(head).encode() + b"\0" + body)


write("valid", header, proof_claims())
write("valid_htu_normalised", header, proof_claims(jti="seed-2", htu="HTTPS://API.example:443/me?x=1#f"))
write("htm_post", header, proof_claims(jti="seed-3", htm="POST"))
write("htu_other_path", header, proof_claims(jti="seed-4", htu="https://api.example/admin"))
write("iat_old", header, proof_claims(jti="seed-5", iat=1699990000))
write("iat_future", header, proof_claims(jti="seed-6", iat=1700000100))
write("ath_wrong", header, proof_claims(jti="seed-7", ath=b64(b"x" * 32)))
write("no_jti", header, {k: v for k, v in proof_claims().items() if k != "jti"})
write("typ_jwt", dict(header, typ="JWT"), proof_claims(jti="seed-8"))
write("alg_hs256", dict(header, alg="HS256"), proof_claims(jti="seed-9"))
write("crit", dict(header, crit=["x"]), proof_claims(jti="seed-10"))
write("private_jwk", dict(header, jwk=dict(header["jwk"], d=b64(bytes([7] * 32)))), proof_claims(jti="seed-11"))
write("other_jwk", dict(header, jwk={"kty": "OKP", "crv": "Ed25519", "x": b64(bytes(32))}), proof_claims(jti="seed-12"))
write("dup_jti", header, ('{"jti":"a","jti":"b","htm":"GET","htu":"https://api.example/me",'
                          '"iat":1700000000,"ath":"' + ath + '"}').encode())
write("iat_string", header, proof_claims(jti="seed-13", iat="1700000000"))
write("htu_percent_encoded", header, proof_claims(jti="seed-14", htu="https://api.example/%6De"))
