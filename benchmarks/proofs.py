"""Proofs at scale: RFC 3161 tokens per second, transparency-log appends per second, and the
time of inclusion and consistency proofs in a log of 1,000,000 leaves, on PostgreSQL.

Not a test: a measurement, run by hand (see benchmarks/README.md and docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/profil_bench_proofs \\
        .venv/bin/python benchmarks/proofs.py [--leaves 1000000] [--tokens 1000] [--appends 2000]

The database named by DATABASE_URL is created if missing and migrated; the log is seeded once
with --leaves synthetic leaves (built in memory, loaded with COPY), and a re-run with the same
count only measures. Every figure is also given as a ratio to a baseline measured in the same
run, since machines are noisy: raw ECDSA P-256 signatures for the TSA, a one-row INSERT
transaction for appends, a primary-key lookup for proofs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parent.parent
GOAL_PROOF_MS = 5.0


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit(
            "DATABASE_URL doit désigner une base PostgreSQL (par exemple "
            "postgres://postgres@127.0.0.1:5432/profil_bench_proofs) : la mesure porte sur PostgreSQL."
        )
    common.configure_environment()
    import django

    django.setup()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(function, runs: int) -> list[float]:
    """Milliseconds of each call."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def row(label: str, value: str, ratio: str = "") -> None:
    print(f"  {label:<58} {value:>14} {ratio}")


# --- Timestamps ------------------------------------------------------------------------------


def bench_tokens(count: int) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.test import Client

    from preuves import keys, timestamps, tsa

    material = keys.material()
    print(f"\nJetons d'horodatage (RFC 3161), {count} par mesure")
    start = time.perf_counter()
    for i in range(count):
        material.tsa_key.sign(i.to_bytes(8, "big"), ec.ECDSA(hashes.SHA256()))
    baseline = count / (time.perf_counter() - start)
    row("référence : signatures ECDSA P-256 brutes", f"{baseline:,.0f} /s")

    queries = [timestamps.build_query(hashlib.sha256(str(i).encode()).digest())[0] for i in range(count)]
    start = time.perf_counter()
    for query in queries:
        tsa.respond(query)
    rate = count / (time.perf_counter() - start)
    row(
        "autorité embarquée, en mémoire (requête DER → réponse DER)",
        f"{rate:,.0f} /s",
        f"× {rate / baseline:.2f}",
    )

    client = Client()
    start = time.perf_counter()
    for query in queries:
        response = client.post("/preuves/tsa", data=query, content_type="application/timestamp-query")
        if response.status_code != 200:
            raise SystemExit(f"POST /preuves/tsa a répondu {response.status_code}")
    rate = count / (time.perf_counter() - start)
    row("POST /preuves/tsa (pile Django complète)", f"{rate:,.0f} /s", f"× {rate / baseline:.2f}")

    start = time.perf_counter()
    for i in range(count):
        timestamps.timestamp_digest(hashlib.sha256(f"jeton {i}".encode()).digest(), purpose="bench")
    rate = count / (time.perf_counter() - start)
    row(
        "client : requête, vérification rfc3161-client, stockage",
        f"{rate:,.0f} /s",
        f"× {rate / baseline:.2f}",
    )


# --- Appends -------------------------------------------------------------------------------------


def bench_appends(count: int) -> None:
    from django.db import connection, transaction

    from preuves import log

    print(f"\nAjouts au journal de transparence, {count} par mesure (une transaction chacun)")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS bench_rows (id bigserial primary key, data bytea)"
        )
    start = time.perf_counter()
    for i in range(count):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_rows (data) VALUES (%s)", [i.to_bytes(8, "big")])
    baseline = count / (time.perf_counter() - start)
    row("référence : INSERT d'une ligne, une transaction", f"{baseline:,.0f} /s")

    start = time.perf_counter()
    for i in range(count):
        log.append("bench", {"n": i, "digest": hashlib.sha256(str(i).encode()).hexdigest()})
    rate = count / (time.perf_counter() - start)
    row("log.append (verrou de tête, feuille, nœuds, tête)", f"{rate:,.0f} /s", f"× {rate / baseline:.2f}")

    batch = 100
    start = time.perf_counter()
    for b in range(count // batch):
        log.append_many("bench", [{"n": b * batch + i} for i in range(batch)])
    rate = count / (time.perf_counter() - start)
    row(f"log.append_many, lots de {batch}", f"{rate:,.0f} /s", f"× {rate / baseline:.2f}")

    start = time.perf_counter()
    for _ in range(20):
        log.append("bench", {"n": -1})
        log.checkpoint()
    rate = 20 / (time.perf_counter() - start)
    row("ajout + point de contrôle signé et horodaté", f"{rate:,.0f} /s", f"× {rate / baseline:.2f}")


# --- A million leaves ----------------------------------------------------------------------------


def seed(leaves: int) -> None:
    """Build the tree in memory and load leaves, nodes and head with COPY."""
    from django.db import connection
    from django.utils import timezone

    from preuves import merkle
    from preuves.models import LogHead

    head = LogHead.objects.filter(pk=1).first()
    if head is not None and head.size >= leaves:
        print(f"\nJournal déjà rempli : {head.size:,} feuilles")
        return
    print(f"\nRemplissage : {leaves:,} feuilles (arbre construit en mémoire, chargé par COPY)…", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        tables = ("preuves_logleaf", "preuves_lognode", "preuves_checkpoint", "preuves_cosignature")
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(f"TRUNCATE {', '.join(tables)}")
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    tree = merkle.MemoryTree()
    now = timezone.now()
    raw = connection.connection
    with raw.cursor() as cursor:
        with cursor.copy(
            "COPY preuves_logleaf (index, kind, data, leaf_hash, created_at) FROM STDIN"
        ) as copy:
            for i in range(leaves):
                digest = hashlib.sha256(str(i).encode()).hexdigest()
                data = f'{{"digest":"{digest}","n":{i},"type":"bench"}}'.encode()
                tree.append(data)
                copy.write_row((i, "bench", data, tree.nodes[merkle.key(0, i)], now))
        with cursor.copy("COPY preuves_lognode (key, hash) FROM STDIN") as copy:
            for k, h in tree.nodes.items():
                copy.write_row((k, h))
    raw.commit()
    LogHead.objects.update_or_create(pk=1, defaults={"size": leaves, "root_hash": tree.root})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE preuves_logleaf")
        cursor.execute("ANALYZE preuves_lognode")
    print(f"  fait en {time.perf_counter() - started:.0f} s ({len(tree.nodes):,} nœuds)")


def bench_proofs(runs: int) -> None:
    from django.test import Client

    from preuves import log, verifier
    from preuves.models import LogLeaf

    head = log.current_head()
    size = head.size
    rng = random.Random(6962)  # noqa: S311 (benchmark sampling)
    print(f"\nPreuves dans un arbre de {size:,} feuilles, {runs} tirages chacune (ms)")

    def lookup():
        LogLeaf.objects.filter(index=rng.randrange(size)).values_list("leaf_hash", flat=True).first()

    base = timed(lookup, runs)
    base_p50 = statistics.median(base)
    row("référence : lecture d'une feuille par clé primaire, p50", f"{base_p50:.3f} ms")

    def inclusion():
        index = rng.randrange(size)
        proof = log.inclusion(index, size)
        verifier.verify_inclusion(
            index,
            size,
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(h) for h in proof["proof"]],
            head.root_hash,
        )

    def consistency():
        first = rng.randrange(1, size)
        log.consistency(first, size)

    client = Client()

    def inclusion_http():
        response = client.get(f"/preuves/log/inclusion?index={rng.randrange(size)}&size={size}")
        if response.status_code != 200:
            raise SystemExit(f"GET /preuves/log/inclusion a répondu {response.status_code}")

    for label, function in [
        ("preuve d'inclusion (génération + vérification)", inclusion),
        ("preuve de cohérence (first tiré au hasard)", consistency),
        ("GET /preuves/log/inclusion (pile Django complète)", inclusion_http),
    ]:
        samples = timed(function, runs)
        p50, p95, p99 = statistics.median(samples), percentile(samples, 0.95), percentile(samples, 0.99)
        verdict = "objectif < 5 ms atteint" if p95 < GOAL_PROOF_MS else "objectif < 5 ms MANQUÉ"
        row(f"{label}, p50", f"{p50:.3f} ms", f"× {p50 / base_p50:.1f} la référence")
        row(f"{label}, p95", f"{p95:.3f} ms", verdict)
        row(f"{label}, p99", f"{p99:.3f} ms")


def bench_verify() -> None:
    """The full verification (preuves verify) at the seeded size: its time, its peak memory,
    and as a baseline a bare streamed pass that only rehashes every leaf."""
    import resource
    import tracemalloc

    from preuves import audit, log, merkle
    from preuves.models import LogLeaf

    log.checkpoint()  # a signed, timestamped checkpoint of the whole tree, as in production
    size = log.current_head().size
    print(f"\nVérification complète à {size:,} feuilles")
    start = time.perf_counter()
    rows = LogLeaf.objects.order_by("index").values_list("data", flat=True)
    for data in rows.iterator(chunk_size=2000):
        merkle.leaf_hash(bytes(data))
    base = time.perf_counter() - start
    row("référence : lecture en flux et hachage de chaque feuille", f"{base:.1f} s")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    report = audit.verify_all()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    verdict = "intègre" if report.ok else "PROBLÈMES : " + " ; ".join(report.problems[:3])
    row(
        "preuves verify (feuilles, nœuds, tête, points de contrôle)",
        f"{elapsed:.1f} s",
        f"× {elapsed / base:.2f}",
    )
    row("  feuilles par seconde", f"{size / elapsed:,.0f} /s")
    row("  pic de mémoire Python (tracemalloc)", f"{peak / 2**20:.1f} Mio")
    row(
        "  mémoire résidente max. du processus avant / après",
        f"{rss_before / 1024:.0f} / {rss_after / 1024:.0f} Mio",
    )
    row("  verdict", verdict, f"{report.nodes:,} nœuds comparés")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--verify-only", action="store_true", help="seulement la vérification complète")
    args = parser.parse_args()
    setup_django()
    common.ensure_database()
    from django.db import connection

    machine = platform.processor() or platform.machine()
    print(f"Machine : {machine}, {os.cpu_count()} cœurs, Python {platform.python_version()}")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}")
    if args.verify_only:
        seed(args.leaves)
        bench_verify()
        return
    bench_tokens(args.tokens)
    seed(args.leaves)
    bench_proofs(args.runs)
    bench_verify()
    bench_appends(args.appends)


if __name__ == "__main__":
    main()
