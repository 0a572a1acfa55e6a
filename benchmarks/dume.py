"""DUME reading speed: documents parsed per second by ``dume.read`` (safe parse, version dispatch,
the whole normalised model), against a bare lxml parse of the same bytes. Goal: at most 3×.

Not a test: a measurement, run by hand (see benchmarks/README.md and docs/performance.md).

    .venv/bin/python benchmarks/dume.py [--rounds 5] [--schematron]

The corpus is every official example copied under dume/standards (1.0.2, 2.1.1, 4.1.0), read
from memory so that the disk is out of the figure. ``--schematron`` also times one XSD and one
Schematron validation per version (the Schematron stylesheets are compiled first, once).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file is named like the package it measures: make `import dume` find the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

import dume  # noqa: E402
from dume import validation  # noqa: E402

STANDARDS = ROOT / "dume" / "standards"


def corpus() -> list[tuple[str, bytes]]:
    paths = sorted((STANDARDS / "edm-1.0.2" / "examples").rglob("*.xml"))
    paths += sorted((STANDARDS / "edm-2.1.1" / "xml").glob("*.xml"))
    paths += sorted((STANDARDS / "edm-4.1.0" / "xml-examples").glob("*.xml"))
    return [(str(p.relative_to(STANDARDS)), p.read_bytes()) for p in paths]


# The machine is shared: wall time counts the neighbours' work whenever this process waits for a
# core. CPU time (the default) counts only this process's; --clock wall gives the old figure.
CLOCK = time.process_time


def best_of(rounds: int, work) -> float:
    times = []
    for _ in range(rounds):
        start = CLOCK()
        work()
        times.append(CLOCK() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--schematron", action="store_true")
    parser.add_argument(
        "--clock", choices=["cpu", "wall"], default="cpu", help="temps processeur (défaut) ou temps écoulé"
    )
    args = parser.parse_args()
    global CLOCK  # one switch for every timing of the run
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    files = corpus()
    size = sum(len(data) for _name, data in files)
    print(f"Machine : {platform.machine()}, Python {platform.python_version()}, lxml {etree.__version__}")
    print(f"Corpus : {len(files)} exemples officiels, {size / 1024 / 1024:.1f} Mio")
    print(f"Horloge : {'temps processeur' if args.clock == 'cpu' else 'temps écoulé'}")

    bare_parser = etree.XMLParser()

    # Each round times both, back to back, and the rounds alternate which goes first (A B, B A,
    # A B…). Whatever runs right after a batch of bare parses is slowed down, by half or more
    # (the state the freed trees leave the allocator in; measured: a bare batch after a bare batch
    # takes 57–64 ms, after dume.read 33–36 ms; dume.read after a bare batch 116–154 ms, after
    # dume.read 91–107 ms): with a fixed order, dume.read always paid it and the bare parse never
    # did. Alternating gives both the same predecessors; the best rounds are compared, with the
    # median of the pairs' own ratios beside them.
    def bare_work():
        return [etree.fromstring(data, bare_parser) for _n, data in files]

    def full_work():
        return [dume.read(data) for _n, data in files]

    bares, fulls, ratios = [], [], []
    for round_number in range(args.rounds):
        if round_number % 2 == 0:
            bare = best_of(1, bare_work)
            full = best_of(1, full_work)
        else:
            full = best_of(1, full_work)
            bare = best_of(1, bare_work)
        bares.append(bare)
        fulls.append(full)
        ratios.append(full / bare)
    bare, full = min(bares), min(fulls)
    print(f"lxml seul      : {len(files) / bare:8.1f} documents/s ({size / bare / 1024 / 1024:.1f} Mio/s)")
    print(f"dume.read      : {len(files) / full:8.1f} documents/s ({size / full / 1024 / 1024:.1f} Mio/s)")
    print(
        f"rapport        : {full / bare:.2f} × (meilleurs tours ; objectif ≤ 3 ×) ; médian des paires "
        f"{statistics.median(ratios):.2f} × (de {min(ratios):.2f} à {max(ratios):.2f}, {args.rounds} tours)"
    )
    # The old fixed order (the bare parse first in every round), for comparison with earlier figures.
    fixed = [(best_of(1, bare_work), best_of(1, full_work)) for _ in range(args.rounds)]
    fixed_bare, fixed_full = min(b for b, _f in fixed), min(f for _b, f in fixed)
    print(
        f"ordre fixe     : lxml {fixed_bare * 1000:.0f} ms, dume.read {fixed_full * 1000:.0f} ms, "
        f"{fixed_full / fixed_bare:.2f} ×"
    )

    by_family: dict[str, list[tuple[str, bytes]]] = {}
    for name, data in files:
        by_family.setdefault(name.split("/")[0], []).append((name, data))
    for family, members in by_family.items():
        pairs = []
        for round_number in range(args.rounds):
            timed = {}
            order = ("bare", "full") if round_number % 2 == 0 else ("full", "bare")
            for which in order:
                if which == "bare":
                    timed[which] = best_of(
                        1, lambda m=members: [etree.fromstring(d, bare_parser) for _n, d in m]
                    )
                else:
                    timed[which] = best_of(1, lambda m=members: [dume.read(d) for _n, d in m])
            pairs.append((timed["bare"], timed["full"]))
        f = min(full for _bare, full in pairs)
        ratio = f / min(bare for bare, _full in pairs)
        print(
            f"  {family:10s} : {len(members):2d} documents, "
            f"{len(members) / f:7.1f} documents/s, {ratio:.2f} ×"
        )

    if args.schematron:
        for name in (
            "edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml",
            "edm-4.1.0/xml-examples/ESPD-Response.xml",
        ):
            data = (STANDARDS / name).read_bytes()
            start = CLOCK()
            validation.validate(data, schematron=False)
            first_xsd = CLOCK() - start
            xsd = best_of(args.rounds, lambda d=data: validation.validate(d, schematron=False))
            start = CLOCK()
            validation.validate(data)
            first = CLOCK() - start
            runs = [
                best_of(1, lambda d=data: validation.validate(d)) for _ in range(max(1, args.rounds // 2))
            ]
            print(
                f"{name} : XSD {xsd * 1000:.0f} ms (premier appel, schéma compilé : {first_xsd:.1f} s) ; "
                f"XSD + Schematron {statistics.median(runs):.1f} s "
                f"(premier appel, règles compilées : {first:.1f} s)"
            )


if __name__ == "__main__":
    main()
