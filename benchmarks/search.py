"""Public search at scale: seed N consultations on PostgreSQL, then time the search page, the
API, the detail page and the home page through Django's test client.

Not a test: a measurement, run by hand (see benchmarks/README.md and docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/profil_bench \\
        .venv/bin/python benchmarks/search.py --count 100000 [--runs 50] [--explain]

The database named by DATABASE_URL is created if missing, migrated, and seeded once: a re-run
with the same --count only measures (--reseed starts the seeded rows over). Timings depend on
the machine, so every figure is also given as a ratio to a baseline measured in the same run:
a view that runs `SELECT 1` through the whole middleware stack.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import sys
import time
import types
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parent.parent
SEED_PREFIX = "BENCH-"
BATCH = 5000
SLOW_P95_MS = 300


# --- Django set-up ---------------------------------------------------------------------------


def setup_django() -> None:
    """The embedded settings, made production-like where it matters for timings: DEBUG off
    (no query log, no debug pages), persistent connections as in production, eager Celery
    (nothing to enqueue), quiet logs, a scratch media folder."""
    if not os.environ.get("DATABASE_URL"):
        sys.exit(
            "DATABASE_URL est obligatoire (par exemple postgres://postgres@127.0.0.1:5432/profil_bench) : "
            "le banc d'essai ne remplit pas la base SQLite de développement."
        )
    common.configure_environment()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.urls import clear_url_caches, include, path

    if settings.DEBUG or not settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit("Mesure refusée : DEBUG doit être faux et Celery en mode immédiat (eager).")
    connection.settings_dict["CONN_MAX_AGE"] = 60

    # The baseline view lives in a URLconf of its own, in front of the project's.
    def select_one(request):
        from django.http import JsonResponse

        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return JsonResponse({"ok": True})

    urls = types.ModuleType("bench_urls")
    urls.urlpatterns = [path("__bench__/select-1", select_one), path("", include(settings.ROOT_URLCONF))]
    sys.modules["bench_urls"] = urls
    settings.ROOT_URLCONF = "bench_urls"
    clear_url_caches()


def ensure_database() -> None:
    """Create the database if missing (through the server's maintenance database), then migrate."""
    from django.core.management import call_command
    from django.db import OperationalError, connection

    try:
        connection.ensure_connection()
    except OperationalError as exc:
        if "does not exist" not in str(exc) or connection.vendor != "postgresql":
            raise
        name = connection.settings_dict["NAME"]
        print(f"Création de la base {name}…")
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0, interactive=False)


# --- Seeding -----------------------------------------------------------------------------------

TOWNS = [
    ("Rennes", "35"),
    ("Saint-Malo", "35"),
    ("Vitré", "35"),
    ("Nantes", "44"),
    ("Angers", "49"),
    ("Tours", "37"),
    ("Amboise", "37"),
    ("Lyon", "69"),
    ("Villeurbanne", "69"),
    ("Grenoble", "38"),
    ("Marseille", "13"),
    ("Aix-en-Provence", "13"),
    ("Toulouse", "31"),
    ("Albi", "81"),
    ("Bordeaux", "33"),
    ("Pau", "64"),
    ("Lille", "59"),
    ("Roubaix", "59"),
    ("Arras", "62"),
    ("Amiens", "80"),
    ("Rouen", "76"),
    ("Caen", "14"),
    ("Brest", "29"),
    ("Quimper", "29"),
    ("Lorient", "56"),
    ("Vannes", "56"),
    ("Strasbourg", "67"),
    ("Colmar", "68"),
    ("Metz", "57"),
    ("Nancy", "54"),
    ("Dijon", "21"),
    ("Besançon", "25"),
    ("Clermont-Ferrand", "63"),
    ("Limoges", "87"),
    ("Poitiers", "86"),
    ("La Rochelle", "17"),
    ("Montpellier", "34"),
    ("Nîmes", "30"),
    ("Perpignan", "66"),
    ("Nice", "06"),
    ("Toulon", "83"),
    ("Ajaccio", "2A"),
    ("Bastia", "2B"),
    ("Orléans", "45"),
    ("Chartres", "28"),
    ("Le Mans", "72"),
    ("Laval", "53"),
    ("Saint-Denis", "974"),
    ("Fort-de-France", "972"),
    ("Cayenne", "973"),
]
BUYER_KINDS = ["Commune de", "Communauté d'agglomération de", "Centre communal d'action sociale de"]
# CPV divisions, weighted roughly as on French buyer profiles: works first, then services.
DIVISIONS = {
    "45": 30,
    "71": 6,
    "72": 6,
    "90": 6,
    "79": 5,
    "50": 5,
    "34": 4,
    "77": 4,
    "15": 3,
    "30": 3,
    "33": 3,
    "39": 3,
    "44": 3,
    "48": 3,
    "55": 3,
    "60": 3,
    "80": 3,
    "09": 2,
    "66": 2,
    "85": 2,
    "92": 2,
    "98": 2,
    "65": 1,
}
NAMES = [
    "Jules-Ferry",
    "Jean-Moulin",
    "Victor-Hugo",
    "Louise-Michel",
    "Simone-Veil",
    "Pasteur",
    "Jean-Jaurès",
    "Marie-Curie",
    "Paul-Bert",
    "Jacques-Prévert",
    "Condorcet",
    "Colette",
    "Anne-Frank",
    "Saint-Exupéry",
    "des Tilleuls",
    "du Parc",
    "des Lilas",
    "de la Gare",
    "du Moulin",
    "des Écoles",
]
WORKS_ACTIONS = [
    "Réfection",
    "Rénovation",
    "Réhabilitation",
    "Construction",
    "Extension",
    "Mise en accessibilité",
    "Restructuration",
    "Aménagement",
    "Remplacement",
    "Travaux de mise en sécurité",
]
WORKS_OBJECTS = [
    "de la toiture de l'école {name}",
    "du groupe scolaire {name}",
    "de la salle polyvalente",
    "de la médiathèque {name}",
    "du gymnase {name}",
    "de la voirie rue {name}",
    "des réseaux d'eaux pluviales",
    "de la mairie",
    "du centre technique municipal",
    "des vestiaires du stade {name}",
    "de la couverture et de la charpente de la halle",
    "des menuiseries extérieures du collège {name}",
    "de la chaufferie de la piscine",
    "d'un pôle enfance",
    "de la station d'épuration",
    "du carrefour {name}",
    "des trottoirs du centre-bourg",
    "de logements sociaux, résidence {name}",
    "de la toiture-terrasse du collège {name}",
    "de l'éclairage public",
]
SUPPLY_ACTIONS = ["Fourniture de", "Acquisition de", "Location et maintenance de", "Achat de"]
SERVICE_ACTIONS = ["Prestations de", "Marché de", "Accord-cadre de", "Mission de"]
SENTENCES = [
    (
        "Le marché prend la forme d'un accord-cadre à bons de commande d'une durée d'un an reconductible "
        "trois fois."
    ),
    "Les travaux se déroulent en site occupé, pour l'essentiel pendant les vacances scolaires.",
    "Une visite du site est obligatoire avant la remise des offres.",
    "Les offres sont jugées sur la valeur technique (60 %) et le prix (40 %).",
    (
        "Une clause sociale d'insertion réserve 5 % des heures travaillées à des personnes éloignées de "
        "l'emploi."
    ),
    "Un critère environnemental porte sur la réduction des émissions de gaz à effet de serre.",
    "Les variantes sont autorisées.",
    "Le titulaire assure la maintenance préventive et corrective pendant toute la durée du marché.",
    "Les livraisons ont lieu dans les bâtiments de la collectivité, en semaine.",
    "Le dossier comprend un mémoire technique à compléter et un bordereau des prix unitaires.",
]
WORKS_SENTENCES = [
    "Couverture, zinguerie et étanchéité de la toiture, avec isolation des combles.",
    "Gros œuvre, charpente, menuiseries, plâtrerie et peinture.",
    "Terrassements, réseaux, chaussées et signalisation.",
    "Désamiantage préalable par une entreprise certifiée.",
    "Électricité, chauffage, ventilation et plomberie.",
]


@dataclass(frozen=True)
class Seeded:
    consultations: int
    open_for_deposits: int


def _siret(n: int) -> str:
    from stdnum import luhn

    siren8 = f"29{n:06d}"
    siren = siren8 + luhn.calc_check_digit(siren8)
    nic = "0001"
    return siren + nic + luhn.calc_check_digit(siren + nic)


def _buyers(count: int = 50):
    from comptes.models import Organisation

    buyers = []
    for n in range(count):
        town, dept = TOWNS[n % len(TOWNS)]
        kind = BUYER_KINDS[(n // len(TOWNS)) % len(BUYER_KINDS)]
        buyer, _ = Organisation.objects.get_or_create(
            siret=_siret(n),
            defaults={
                "kind": Organisation.Kind.BUYER,
                "name": f"{kind} {town} (banc d'essai)",
                "address": f"Place de la Mairie, {town}",
            },
        )
        buyers.append((buyer, dept))
    return buyers


def _text(rng: random.Random, cpv_label: str, nature: str, town: str) -> tuple[str, str]:
    name = rng.choice(NAMES)
    label = cpv_label[0].lower() + cpv_label[1:]
    if nature == "works":
        title = f"{rng.choice(WORKS_ACTIONS)} {rng.choice(WORKS_OBJECTS).format(name=name)}"
        extra = rng.sample(WORKS_SENTENCES, 2)
    elif nature == "supplies":
        title = f"{rng.choice(SUPPLY_ACTIONS)} {label}"
        extra = []
    else:
        title = f"{rng.choice(SERVICE_ACTIONS)} {label}"
        extra = []
    if rng.random() < 0.3:
        title += f" à {town}"
    sentences = [f"La présente consultation porte sur : {label}.", *extra, *rng.sample(SENTENCES, 2)]
    sentences.append(f"Lieu d'exécution : {town}.")
    return title[:300], " ".join(sentences)


def _procedure(rng: random.Random, nature: str, value: float) -> str:
    threshold = 5_404_000 if nature == "works" else 216_000
    if value >= threshold:
        return rng.choices(["open", "restricted", "negotiated", "competitive_dialogue"], [70, 15, 10, 5])[0]
    return rng.choices(["adapted", "open"], [90, 10])[0]


def seed(count: int, *, reseed: bool = False) -> Seeded:
    from django.db import connection, transaction
    from django.utils import timezone

    from comptes.models import User
    from marches.models import Consultation, CpvCode, DceFile, DceVersion, Lot

    bench = Consultation.objects.filter(reference__startswith=SEED_PREFIX)
    if reseed:
        print("Suppression des consultations du banc d'essai…")
        with transaction.atomic():
            DceFile.objects.filter(version__consultation__in=bench).delete()
            DceVersion.objects.filter(consultation__in=bench).delete()
            Lot.objects.filter(consultation__in=bench).delete()
            Consultation.cpv_additional.through.objects.filter(consultation__in=bench).delete()
            bench.delete()
    existing = bench.count()
    if existing >= count:
        if existing > count:
            print(
                f"{existing} consultations déjà en base (plus que --count {count}) : --reseed pour repartir."
            )
        return _seeded()

    user, _ = User.objects.get_or_create(
        email="banc-essai@example.invalid", defaults={"first_name": "Banc", "last_name": "d'essai"}
    )
    buyers = _buyers()
    codes: dict[str, list[tuple[str, str]]] = {}
    for code, label in CpvCode.objects.values_list("code", "label_fr"):
        codes.setdefault(code[:2], []).append((code, label))
    divisions = [d for d in DIVISIONS if d in codes]
    weights = [DIVISIONS[d] for d in divisions]
    now = timezone.now()
    started = time.perf_counter()
    print(f"Insertion de {count - existing} consultations (déjà {existing})…")
    for start in range(existing, count, BATCH):
        rng = random.Random(f"profil-bench-{start}")  # noqa: S311  reproducible data, not secrets
        rows, extras, lots = [], [], []
        for i in range(start, min(start + BATCH, count)):
            buyer, dept = buyers[i % len(buyers)]
            town = buyer.name.rsplit(" (", 1)[0].split(" de ", 1)[-1]
            division = rng.choices(divisions, weights)[0]
            code, label = rng.choice(codes[division])
            nature = "works" if division == "45" else ("services" if int(division) >= 50 else "supplies")
            title, description = _text(rng, label, nature, town)
            value = max(25_000.0, round(math.exp(rng.gauss(math.log(150_000), 1.0)), -2))
            deadline = now + timedelta(days=rng.uniform(-90, 90))
            published_at = deadline - timedelta(days=rng.uniform(20, 60))
            if published_at > now:  # a deadline 20 days away or more: published in the last weeks
                published_at = now - timedelta(days=rng.uniform(0.05, 15))
            if rng.random() < 0.05:
                state, published_at = "draft", None
                deadline = now + timedelta(days=rng.uniform(20, 90))
            elif deadline > now:
                state = "published"
            else:
                state = rng.choices(
                    ["closed", "opened", "awarded", "unsuccessful", "discontinued"], [45, 10, 35, 5, 5]
                )[0]
            place = dept if rng.random() < 0.85 else rng.choice(TOWNS)[1]
            rows.append(
                Consultation(
                    buyer=buyer,
                    reference=f"{SEED_PREFIX}{i:07d}",
                    title=title,
                    description=description,
                    nature=nature,
                    procedure=_procedure(rng, nature, value),
                    cpv_main_id=code,
                    place_code=place,
                    departement=place,
                    estimated_value=Decimal(f"{value:.2f}"),
                    deadline=deadline,
                    questions_deadline=deadline - timedelta(days=7) if rng.random() < 0.5 else None,
                    variants_allowed=rng.random() < 0.2,
                    max_deposit_bytes=500 * 1024**2,
                    contact_name="Service de la commande publique",
                    contact_email="marches@example.invalid",
                    state=state,
                    created_at=(published_at or now) - timedelta(days=3),
                    created_by=user,
                    updated_at=published_at or now,
                    published_at=published_at,
                    published_by=user if published_at else None,
                )
            )
            if rng.random() < 0.25:
                extras.append(
                    [c for c, _ in rng.sample(codes[division], min(3, len(codes[division])))][
                        : rng.randint(1, 3)
                    ]
                )
            else:
                extras.append([])
            lots.append(rng.randint(2, 4) if rng.random() < 0.15 else 0)
        with transaction.atomic():
            Consultation.objects.bulk_create(rows, batch_size=1000)
            through = Consultation.cpv_additional.through
            through.objects.bulk_create(
                [
                    through(consultation_id=row.pk, cpvcode_id=c)
                    for row, additional in zip(rows, extras, strict=True)
                    for c in additional
                    if c != row.cpv_main_id
                ],
                batch_size=5000,
            )
            Lot.objects.bulk_create(
                [
                    Lot(
                        consultation_id=row.pk,
                        number=n,
                        title=f"Lot {n} – {row.title[:80]}",
                        estimated_value=(row.estimated_value / k).quantize(Decimal("0.01")),
                        cpv_id=row.cpv_main_id,
                    )
                    for row, k in zip(rows, lots, strict=True)
                    for n in range(1, k + 1)
                ],
                batch_size=5000,
            )
            versions = DceVersion.objects.bulk_create(
                [
                    DceVersion(
                        consultation_id=row.pk, number=1, created_by=user, published_at=row.published_at
                    )
                    for row in rows
                ],
                batch_size=5000,
            )
            DceFile.objects.bulk_create(
                [
                    DceFile(
                        version_id=version.pk,
                        path=path,
                        size=40_000 + n * 1000,
                        sha256=f"{version.pk:064x}",
                        blob=f"dce/bench/{version.pk}-{n}",
                        scan_status="not_scanned",
                        uploaded_by=user,
                    )
                    for version in versions
                    for n, path in enumerate(("RC.pdf", "CCAP.pdf", "Pièces techniques/CCTP.pdf"))
                ],
                batch_size=5000,
            )
        done = min(start + BATCH, count)
        print(f"  {done} / {count} ({time.perf_counter() - started:.0f} s)", flush=True)
    if connection.vendor == "postgresql":
        print("Vecteurs de recherche et ANALYZE…", flush=True)
        with connection.cursor() as cursor:
            # The same vector as marches.services._refresh_search_vector, in one statement.
            cursor.execute(
                "UPDATE marches_consultation SET search_vector = "
                "setweight(to_tsvector('french'::regconfig, COALESCE(reference, '')), 'A') || "
                "setweight(to_tsvector('french'::regconfig, COALESCE(title, '')), 'A') || "
                "setweight(to_tsvector('french'::regconfig, COALESCE(description, '')), 'B') "
                "WHERE search_vector IS NULL"
            )
            # The UPDATE left a dead copy of every row: compact as a long-lived table kept by
            # autovacuum would be, so plans and timings are not those of a bloated table.
            cursor.execute("VACUUM (FULL) marches_consultation")
            # And set the visibility map, as autovacuum would: index-only scans depend on it.
            cursor.execute("VACUUM (ANALYZE)")
    print(f"Données prêtes en {time.perf_counter() - started:.0f} s.")
    return _seeded()


def _seeded() -> Seeded:
    from marches.models import Consultation

    return Seeded(Consultation.objects.count(), Consultation.objects.open_for_deposits().count())


# --- Measuring ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    url: str
    status: int | str
    p50: float = 0.0
    p95: float = 0.0
    queries: int = 0
    sql_ms: float = 0.0  # time in the database during one request (the captured one)
    captured: list | None = None


def _target(kind: str, name: str, args=(), query: str = "") -> str | None:
    from django.urls import NoReverseMatch, reverse

    if kind == "path":
        return name + (f"?{query}" if query else "")
    try:
        return reverse(name, args=args) + (f"?{query}" if query else "")
    except NoReverseMatch:
        return None


def measure(client, name: str, url: str | None, runs: int) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if url is None:
        return Result(name, "", "absent")
    try:
        first = client.get(url)
    except Exception as exc:  # noqa: BLE001  a view being written by someone else may crash
        return Result(name, url, f"erreur {type(exc).__name__}: {exc}"[:120])
    if first.status_code == 404:
        return Result(name, url, "absent")
    if first.status_code != 200:
        return Result(name, url, first.status_code)
    for _ in range(2):  # warm-up: caches, prepared plans, template loading
        client.get(url)
    with CaptureQueriesContext(connection) as context:
        client.get(url)
    # Copied now: the next requests reset the connection's query log it reads from.
    captured = list(context.captured_queries)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return Result(
        name,
        url,
        200,
        p50=statistics.median(timings),
        p95=cuts[94],
        queries=len(captured),
        sql_ms=sum(float(q["time"]) for q in captured) * 1000,
        captured=captured,
    )


def scenarios(detail_pk: int | None) -> list[tuple[str, str | None]]:
    search = "marches:search"
    api = "/api/v1/consultations/"
    filters = [
        ("sans filtre", ""),
        ("q=toiture", "q=toiture"),
        ("cpv=45000000", "cpv=45000000"),
        ("departement=35 + nature=travaux", "departement=35&nature=works"),
        ("page 200", "page=200"),
    ]
    result = [
        ("référence : SELECT 1", _target("path", "/__bench__/select-1")),
        ("/healthz", _target("url", "healthz")),
        ("accueil", _target("url", "home")),
    ]
    result += [(f"recherche, {label}", _target("url", search, query=q)) for label, q in filters]
    result += [(f"API, {label}", _target("path", api, query=q)) for label, q in filters]
    if detail_pk is not None:
        result.append(("fiche consultation", _target("url", "marches:detail", args=[detail_pk])))
        result.append(("API, fiche consultation", _target("path", f"{api}{detail_pk}/")))
    return result


def explain(result: Result, top: int = 2) -> None:
    """EXPLAIN ANALYZE of the slowest queries the page ran (as sent to the server)."""
    from django.db import connection

    if not result.captured or connection.vendor != "postgresql":
        return
    slowest = sorted(result.captured, key=lambda q: float(q["time"]), reverse=True)[:top]
    for query in slowest:
        sql = query["sql"]
        print(f"\n--- {result.name} : requête de {float(query['time']) * 1000:.1f} ms")
        print(sql if len(sql) < 1500 else sql[:1500] + " […]")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            for (line,) in cursor.fetchall():
                print("   ", line)


def machine() -> str:
    import django
    from django.db import connection

    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    database = "SQLite"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]}"
    return (
        f"{os.cpu_count()} cœurs ({cpu}), Python {platform.python_version()}, "
        f"Django {django.get_version()}, {database}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="consultations à créer (défaut 100 000)")
    parser.add_argument("--runs", type=int, default=50, help="mesures par page (défaut 50)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE des requêtes de recherche")
    parser.add_argument("--reseed", action="store_true", help="supprimer et recréer les données du banc")
    parser.add_argument("--seed-only", action="store_true", help="remplir la base sans mesurer")
    args = parser.parse_args()

    setup_django()
    ensure_database()
    seeded = seed(args.count, reseed=args.reseed)
    if args.seed_only:
        return

    from django.test import Client
    from django.utils import timezone

    from marches.models import Consultation

    print(f"\n{machine()}")
    print(
        f"{timezone.localtime():%Y-%m-%d %H:%M} — {seeded.consultations} consultations, "
        f"dont {seeded.open_for_deposits} ouvertes aux dépôts ; {args.runs} mesures par page.\n"
    )
    detail = (
        Consultation.objects.open_for_deposits()
        .filter(reference__startswith=SEED_PREFIX, lots__isnull=False, cpv_additional__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    client = Client()
    load_before = os.getloadavg()[0]
    results = [measure(client, name, url, args.runs) for name, url in scenarios(detail)]
    # Other processes on the machine skew every figure: said next to them.
    print(f"Charge moyenne (1 min) : {load_before:.2f} avant, {os.getloadavg()[0]:.2f} après.\n")
    baseline = results[0].p50 or 1.0
    width = max(len(r.name) for r in results)
    print(
        f"{'page'.ljust(width)}  {'p50 ms':>8}  {'p95 ms':>8}  {'requêtes':>8}  {'dont SQL ms':>11}  "
        f"{'× réf. (p50)':>12}"
    )
    for r in results:
        if r.status != 200:
            print(f"{r.name.ljust(width)}  {r.status!s:>8}")
            continue
        flag = "  ← lent" if r.p95 > SLOW_P95_MS else ""
        ratio = r.p50 / baseline
        print(
            f"{r.name.ljust(width)}  {r.p50:8.1f}  {r.p95:8.1f}  {r.queries:8d}  {r.sql_ms:11.0f}  "
            f"{ratio:12.1f}{flag}"
        )
    if args.explain:
        wanted = ("q=toiture", "cpv=45000000")
        for r in results:
            if r.status == 200 and (any(w in r.name for w in wanted) or r.p95 > SLOW_P95_MS):
                explain(r)


if __name__ == "__main__":
    main()
