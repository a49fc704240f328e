#!/usr/bin/env python3
"""Lists the crate's public API from its rustdoc HTML, one line an item, sorted.

Usage: scripts/public_api.py [DOC_DIR]   (default: target/doc/jwt_layer, built by
`cargo doc --no-deps --all-features -p jwt-layer`)

Each public item as its path (`struct jwt_layer::JwtAuth`), then its inherent methods,
associated items, variants and fields, and the traits it implements (not the blanket and auto
traits, which follow from the others). docs/public-api.txt holds the listing of the code as
committed; the test command compares the two, so a change of the public surface is a reviewed
diff: regenerate with `python3 scripts/public_api.py > docs/public-api.txt`.
"""
import html
import os
import re
import sys

KINDS = ("struct", "enum", "trait", "fn", "type", "constant", "macro", "static", "union")


def section(text, start_id, end_ids):
    """The HTML from the element with id `start_id` to the first of `end_ids` after it."""
    start = text.find(f'id="{start_id}"')
    if start < 0:
        return ""
    ends = [text.find(f'id="{end}"', start) for end in end_ids]
    ends = [end for end in ends if end >= 0]
    return text[start:min(ends)] if ends else text[start:]


def ids(text, prefixes):
    found = set()
    for match in re.finditer(r'id="([a-z]+)\.([A-Za-z0-9_]+)(?:-\d+)?"', text):
        if match.group(1) in prefixes:
            found.add(f"{match.group(1)} {match.group(2)}")
    return found


def main():
    doc_dir = sys.argv[1] if len(sys.argv) > 1 else "target/doc/jwt_layer"
    crate = os.path.basename(os.path.normpath(doc_dir))
    with open(os.path.join(doc_dir, "all.html"), encoding="utf-8") as f:
        index = f.read()
    lines = set()
    for href in sorted(set(re.findall(r'href="([a-z_/]*(?:%s)\.[A-Za-z0-9_]+\.html)"' % "|".join(KINDS), index))):
        kind, name = os.path.basename(href)[:-5].split(".", 1)
        module = os.path.dirname(href).replace("/", "::")
        path = "::".join(part for part in (crate, module, name) if part)
        lines.add(f"{kind} {path}")
        with open(os.path.join(doc_dir, href), encoding="utf-8") as f:
            page = f.read()
        if kind in ("struct", "enum", "union", "trait"):
            ends = ["trait-implementations", "synthetic-implementations", "blanket-implementations",
                    "implementors", "dyn-compatibility", "object-safety", "foreign-impls"]
            own = section(page, "main-content", ends)
            for member in ids(own, {"method", "tymethod", "associatedconstant", "associatedtype",
                                    "variant", "structfield"}):
                lines.add(f"{kind} {path}: {member}")
            impls = section(page, "trait-implementations-list",
                            ["synthetic-implementations", "blanket-implementations"])
            for trait in re.findall(r'<h3 class="code-header">impl(?:&lt;.*?&gt;)? (.*?) for ', impls):
                trait = html.unescape(re.sub(r"<[^>]+>", "", trait))
                lines.add(f"{kind} {path}: impl {trait}")
    print("\n".join(sorted(lines)))


if __name__ == "__main__":
    main()
