"""Keys, a DPoP-bound access token and single-use DPoP proofs for scripts/fleet_load.sh.

    dpop_proofs.py setup DIR ISSUER AUDIENCE PUBLIC_URL REVOCABLE
        DIR/jwks.json: the issuer's public RS256 key; DIR/token: an RS256 access token bound
        (`cnf.jkt`, RFC 9449 §6.1) to DIR/dpop.pem, the client's ES256 proof key. With
        REVOCABLE `1` the token has a `sub` and a `jti` (a revocation store looks both up);
        with `0` it has neither (nothing to look up).
    dpop_proofs.py proofs DIR COUNT FILE...
        COUNT fresh proofs (one a line) into each FILE, for `GET PUBLIC_URL/me` with that token:
        each with its own random `jti` and the current `iat`, so every line is accepted once.

Only `jti` and `iat` differ between proofs; the header (with the public JWK) is the same, as for
one client sending many requests. Signing is spread over every core.
"""
import base64, hashlib, json, multiprocessing, os, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(obj):
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def uint(n, size):
    return b64(n.to_bytes(size, "big"))


def ec_jwk(key):
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": uint(numbers.x, 32), "y": uint(numbers.y, 32)}


def setup(out, issuer, audience, public_url, revocable):
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = issuer_key.public_key().public_numbers()
    jwks = {"keys": [{"kty": "RSA", "kid": "rs", "alg": "RS256", "use": "sig",
                      "n": uint(numbers.n, 256), "e": uint(numbers.e, 3)}]}
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump(jwks, f)

    dpop_key = ec.generate_private_key(ec.SECP256R1())
    with open(os.path.join(out, "dpop.pem"), "wb") as f:
        f.write(dpop_key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    # RFC 7638 thumbprint: the required members in lexicographic order, no whitespace.
    jwk = ec_jwk(dpop_key)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    jkt = b64(hashlib.sha256(canonical.encode()).digest())

    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "iat": now, "nbf": now, "exp": now + 3600,
              "scope": "read:items", "cnf": {"jkt": jkt}}
    if revocable == "1":
        claims.update(sub="fleet-load", jti="fleet-load-token")
    signing_input = segment({"alg": "RS256", "typ": "JWT", "kid": "rs"}) + "." + segment(claims)
    signature = issuer_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    with open(os.path.join(out, "token"), "w") as f:
        f.write(signing_input + "." + b64(signature))
    with open(os.path.join(out, "public_url"), "w") as f:
        f.write(public_url.rstrip("/"))


def load(out):
    with open(os.path.join(out, "dpop.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(os.path.join(out, "token")) as f:
        token = f.read().strip()
    with open(os.path.join(out, "public_url")) as f:
        public_url = f.read().strip()
    return key, token, public_url


def sign_batch(args):
    out, count = args
    key, token, public_url = load(out)
    header = segment({"typ": "dpop+jwt", "alg": "ES256", "jwk": ec_jwk(key)})
    htu = json.dumps(public_url + "/me")
    ath = b64(hashlib.sha256(token.encode()).digest())
    algorithm = ec.ECDSA(hashes.SHA256())
    lines = []
    for _ in range(count):
        payload = '{"jti":"%s","htm":"GET","htu":%s,"iat":%d,"ath":"%s"}' % (
            b64(os.urandom(16)), htu, int(time.time()), ath)
        signing_input = header + "." + b64(payload.encode())
        r, s = decode_dss_signature(key.sign(signing_input.encode(), algorithm))
        lines.append(signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    return "\n".join(lines) + "\n"


def proofs(out, count, files):
    batch = 2000
    with multiprocessing.Pool() as pool:
        for path in files:
            sizes = [batch] * (count // batch) + ([count % batch] if count % batch else [])
            with open(path, "w") as f:
                for text in pool.imap(sign_batch, [(out, n) for n in sizes]):
                    f.write(text)


if __name__ == "__main__":
    command, out = sys.argv[1], sys.argv[2]
    if command == "setup":
        setup(out, *sys.argv[3:7])
    elif command == "proofs":
        proofs(out, int(sys.argv[3]), sys.argv[4:])
    else:
        sys.exit(f"unknown command {command!r}")
