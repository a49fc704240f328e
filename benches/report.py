#!/usr/bin/env python3
"""Prints the table of medians and ratios from the last `cargo bench -p jwt-layer-benches --bench verify` run.

Reads criterion's `target/criterion/<alg>/<benchmark>/new/estimates.json` (the median point
estimate of each benchmark) and prints Markdown: medians per algorithm, then each target of the
performance budget as a ratio with its verdict, then the remote unknown-`kid` and introspection
groups. Usage: `python3 benches/report.py [TARGET_DIR]`.
"""

import json
import os
import sys

ALGS = ["HS256", "RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"]
# jsonwebtoken has no ES512, nor have the peers built on it: no (a), (e) or (f) there.
WITHOUT_PEERS = {"ES512"}
BENCHES = [
    ("0_signature_bare", "sig (aws-lc bare)"),
    ("a_jsonwebtoken_decode", "a jsonwebtoken"),
    ("b_jwt_layer_verify", "b verify"),
    ("b_remote_cache_hit", "b remote hit"),
    ("b_token_cache_hit", "b token-cache hit"),
    ("c_router_with_layer", "c router+layer"),
    ("c_token_cache_hit", "c token-cache hit"),
    ("c2_layer_around_router", "c2 layer(router)"),
    ("d_router_without_auth", "d floor"),
    ("e_router_jwt_authorizer", "e jwt-authorizer"),
    ("f_router_tower_oauth2", "f tower-oauth2"),
]

INTROSPECTION = [
    ("b_cache_hit", "b verify, answer cached"),
    ("b_cache_miss", "b verify, a call on every request (cache TTL 0)"),
    ("c_cache_hit", "c router+layer, answer cached"),
]


def estimate(root, group, bench):
    """The median and the half-width of its 95 % confidence interval, relative."""
    path = os.path.join(root, "criterion", group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            median = json.load(f)["median"]
    except FileNotFoundError:
        return None, None
    interval = median["confidence_interval"]
    point = median["point_estimate"]
    return point, (interval["upper_bound"] - interval["lower_bound"]) / 2 / point


def median_ns(root, group, bench):
    return estimate(root, group, bench)[0]


def fmt_time(ns, spread=None):
    if ns is None:
        return "—"
    text = f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"
    # A wide confidence interval means the machine was disturbed during that benchmark.
    if spread is not None and spread >= 0.01:
        text += f" ±{spread * 100:.0f} %"
    return text


def verdict(value, limit, digits=2):
    return f"{value:.{digits}f} ({'met' if value <= limit else 'MISSED'})"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "target")
    m = {alg: {b: median_ns(root, alg, b) for b, _ in BENCHES} for alg in ALGS}

    print("Medians (criterion, 30 samples × 3 s; ±: half-width of the median's 95 % confidence")
    print("interval, shown when 1 % or more):\n")
    print("| alg | " + " | ".join(label for _, label in BENCHES) + " |")
    print("|---|" + "---:|" * len(BENCHES))
    for alg in ALGS:
        cells = (fmt_time(*estimate(root, alg, b)) for b, _ in BENCHES)
        print(f"| {alg} | " + " | ".join(cells) + " |")

    print("\nBudget (ratios of medians, three decimals so that no verdict hides in rounding;")
    print("the last three columns are for reading, without a limit):\n")
    print("| alg | b / a (HS256 ≤ 0.70) | b / sig (asym. ≤ 1.10) | c / min(e, f) (< 1) "
          "| c2 / min(e, f) | (c − d) / b | b remote / b |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for alg in ALGS:
        r = m[alg]
        sig, a, b, br = r["0_signature_bare"], r["a_jsonwebtoken_decode"], r["b_jwt_layer_verify"], r["b_remote_cache_hit"]
        c, c2, d, e, f = (r[k] for k in ["c_router_with_layer", "c2_layer_around_router",
                                         "d_router_without_auth", "e_router_jwt_authorizer",
                                         "f_router_tower_oauth2"])
        peers = (a, e, f)
        if None in (sig, b, c, c2, d) or (alg not in WITHOUT_PEERS and None in peers):
            print(f"| {alg} | missing data |||||")
            continue
        if alg in WITHOUT_PEERS:
            b_over_a = ahead = c2_over_peer = "—"
        else:
            peer = min(e, f)
            b_over_a = verdict(b / a, 0.70, 3) if alg == "HS256" else f"{b / a:.3f}"
            ahead = f"{c / peer:.3f} ({'met' if c < peer else 'MISSED'})"
            c2_over_peer = f"{c2 / peer:.2f}"
        b_over_sig = f"{b / sig:.3f}" if alg == "HS256" else verdict(b / sig, 1.10, 3)
        # A remote set serves public keys only, so HS256 has no remote contender.
        remote = "—" if br is None else f"{br / b:.2f}"
        print(f"| {alg} | {b_over_a} | {b_over_sig} | {ahead} | {c2_over_peer} "
              f"| {(c - d) / b:.2f} | {remote} |")

    print("\nVerified-token cache (target: a hit costs ≤ 1/20 of an RS256 verification):\n")
    print("| alg | b hit | b hit / b | b hit / b RS256 (≤ 0.05) | c hit − d | (c hit − d) / b RS256 (≤ 0.05) |")
    print("|---|---:|---:|---:|---:|---:|")
    rs256 = m["RS256"]["b_jwt_layer_verify"]
    for alg in ALGS:
        r = m[alg]
        hit, b, c_hit, d = (r[k] for k in ["b_token_cache_hit", "b_jwt_layer_verify",
                                           "c_token_cache_hit", "d_router_without_auth"])
        if None in (hit, b, c_hit, d, rs256):
            print(f"| {alg} | missing data |||||")
            continue
        print(f"| {alg} | {fmt_time(hit)} | {hit / b:.3f} | {verdict(hit / rs256, 0.05, 3)} "
              f"| {fmt_time(c_hit - d)} | {verdict((c_hit - d) / rs256, 0.05, 3)} |")

    refused = median_ns(root, "remote_unknown_kid", "refused_within_cooldown")
    refetch = median_ns(root, "remote_unknown_kid", "refetch_every_request")
    print("\nRemote key set, unknown `kid` (RS256 token):\n")
    print("| path | median |")
    print("|---|---:|")
    print(f"| refused within the cooldown (no fetch) | {fmt_time(refused)} |")
    print(f"| refetched from the loopback server on every request | {fmt_time(refetch)} |")

    # The same claims as the JWT rows, read from an introspection answer (opaque token).
    print("\nIntrospection (opaque token, loopback RFC 7662 endpoint; for reading, without a limit):\n")
    print("| path | median | / b HS256 | / b RS256 |")
    print("|---|---:|---:|---:|")
    hs256, rs256 = m["HS256"]["b_jwt_layer_verify"], m["RS256"]["b_jwt_layer_verify"]
    for bench, label in INTROSPECTION:
        point, spread = estimate(root, "introspection", bench)
        ratio = lambda base: "—" if None in (point, base) else f"{point / base:.2f}"
        print(f"| {label} | {fmt_time(point, spread)} | {ratio(hs256)} | {ratio(rs256)} |")


if __name__ == "__main__":
    main()
