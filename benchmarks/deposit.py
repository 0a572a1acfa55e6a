"""Deposits at scale: upload throughput of concurrent deposits against a raw disk write of the
same bytes, the memory of a web process during a 2 GiB deposit, and a deadline rush of 500
finalisations in 60 s, on PostgreSQL, through real gunicorn processes.

Not a test: a measurement, run by hand (see benchmarks/README.md and docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/profil_bench_deposit \\
        .venv/bin/python benchmarks/deposit.py [--concurrent 8] [--size-mib 128] [--big-gib 2] \\
        [--rush 500] [--rush-seconds 60] [--mixed 100] [--workers 3] [--skip PART] [--keep]

The database named by DATABASE_URL is created if missing and migrated; each run adds its own
buyer, consultation (published through the service, so with real opening keys) and bidders.
The ciphertexts are real age files, encrypted once to the consultation's offer recipient into
a scratch folder next to the scratch MEDIA_ROOT, so on the disk being measured; the whole
scratch folder is removed at the end. The web processes are gunicorn with the production
configuration (docker/gunicorn.conf.py, sync workers) over the embedded settings with DEBUG
off and eager Celery; the clients are threads of this script speaking plain HTTP. Every figure
has a baseline measured in the same run: `dd` of the same files for throughput, the worker's
own resident memory before the deposit, `GET /healthz` at the same arrival rate for the rush.
Two more parts say why: a "mixed" rush (finalisations and deposit openings arriving in pairs,
as in a real last minute), and the time of each stage of an upload and of a finalisation,
measured in this process without HTTP. Each part prints the CPU seconds it cost the gunicorn
workers, this script, the PostgreSQL backends of this database and everything else (another
process on the machine skews the figures: it shows there).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import itertools
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
MB = 1_000_000  # throughputs are in MB/s (10^6 bytes), as dd prints them
CHUNK = 8 * MiB  # as docs/depot-cli.md sends them
AGE_CHUNK = 64 * 1024  # age's STREAM chunk: 16 bytes of tag each
HTTP_TIMEOUT = 300
GOAL_DISK_RATIO = 0.5
GOAL_P99_S = 1.0
STAGE_FINALISATIONS = 20  # finalisations timed in-process, by stage
CEREMONY_PASSPHRASE = "agrafe cheval pile correcte séance"  # noqa: S105 (a throwaway commission's)
_numbers = itertools.count()  # organisation numbers (for SIRETs), restarted past the existing rows


class BenchError(SystemExit):
    pass


def row(label: str, value: str, ratio: str = "") -> None:
    print(f"  {label:<62} {value:>16} {ratio}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load() -> str:
    return f"charge moyenne (1 min) {os.getloadavg()[0]:.2f}"


# --- Django set-up ---------------------------------------------------------------------------


def setup_django(scratch: Path, big_bytes: int) -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit(
            "DATABASE_URL doit désigner une base PostgreSQL (par exemple "
            "postgres://postgres@127.0.0.1:5432/profil_bench_deposit) : la mesure porte sur PostgreSQL."
        )
    # The scratch media folder is this run's, on the disk being measured, and goes at the end.
    os.environ["MEDIA_ROOT"] = str(scratch / "media")
    os.environ["PREUVES_KEY_DIR"] = str(scratch / "cles")
    # Receipts are still built and sealed (eager Celery), only not printed to the servers' logs.
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    if big_bytes > 2 * 1024**3:
        os.environ["DEPOSIT_MAX_BYTES_LIMIT"] = str(big_bytes)
    # The rush's openers each start many deposits they never finalise: the bound on a company's
    # deposits in progress (offres/deposits.py) is not what is measured.
    os.environ["DEPOSITS_UNFINISHED_MAX"] = "1000000"
    os.environ["DEPOSITS_UNFINISHED_BYTES_FACTOR"] = "1000000"
    common.configure_environment()
    import django

    django.setup()
    from django.conf import settings

    if settings.DEBUG or not settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit("Mesure refusée : DEBUG doit être faux et Celery en mode immédiat (eager).")


def code_state() -> str:
    """The commit measured, and the files of the measured code changed since (another engineer
    may be working in the same tree)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout

    if not (ROOT / ".git").exists():
        return "hors d'un dépôt git (copie exportée ?)"
    changed = git("status", "--porcelain", "--", "offres", "api", "config", "preuves", "marches", "comptes")
    files = [line[3:] for line in changed.splitlines()]
    head = git("log", "-1", "--format=%h %cs").strip()
    return head + (f", modifiés depuis : {', '.join(files)}" if files else "")


def machine() -> str:
    import django
    from django.db import connection

    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024**2
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        database = f"PostgreSQL {cursor.fetchone()[0]}"
    import gunicorn

    return (
        f"{os.cpu_count()} cœurs ({cpu}), {memory} Go, Python {platform.python_version()}, "
        f"Django {django.get_version()}, gunicorn {gunicorn.__version__}, {database}"
    )


# --- Data: a published consultation and its bidders ------------------------------------------


def _siret(n: int) -> str:
    from stdnum import luhn

    # 7919 is prime to 10^8: distinct numbers give distinct SIRENs.
    siren8 = f"{(30_000_000 + n * 7919) % 100_000_000:08d}"
    siren = siren8 + luhn.calc_check_digit(siren8)
    nic = "0001"
    return siren + nic + luhn.calc_check_digit(siren + nic)


def _organisation(kind: str, name: str):
    from comptes.models import Organisation

    return Organisation.objects.create(kind=kind, name=name, siret=_siret(next(_numbers)))


def _user(tag: str, label: str, *, totp: bool = False):
    from django.utils import timezone

    from comptes import totp as totp_codes
    from comptes.models import TOTPDevice, User

    user = User.objects.create_user(
        f"banc-{tag}-{label}@banc-depots.example.fr",
        first_name="Banc",
        last_name=label,
        email_verified_at=timezone.now(),
    )
    if totp:
        TOTPDevice.objects.create(user=user, secret=totp_codes.new_secret(), confirmed_at=timezone.now())
    return user


def publish_consultation(tag: str, max_bytes: int):
    """A buyer, an agent, a commission of three with ceremony keys, one DCE file: published
    through marches.services, which creates the opening keys the bidders encrypt to."""
    from django.utils import timezone

    from comptes.models import Membership, Organisation
    from comptes.services import ceremony_passphrase_set
    from marches import services
    from marches.models import CpvCode

    buyer = _organisation(Organisation.Kind.BUYER, f"Commune du banc d'essai {tag}")
    agent = _user(tag, "agent", totp=True)
    Membership.objects.create(user=agent, organisation=buyer, role=Membership.Role.BUYER_AGENT)
    consultation = services.consultation_create(
        buyer=buyer,
        created_by=agent,
        reference=f"BANC-{tag}",
        title="Réfection de la toiture du groupe scolaire (banc d'essai des dépôts)",
        description="Couverture en zinc, isolation des combles.",
        nature="works",
        procedure="adapted",
        cpv_main=CpvCode.objects.get(code="45261000"),
        place_code="35238",
        estimated_value=Decimal(180_000),
        deadline=timezone.now() + timedelta(days=21),
        contact_name="Service marchés",
        contact_email="marches@banc-depots.example.fr",
        max_deposit_bytes=max_bytes,
    )
    members = []
    for i in range(3):
        member = _user(tag, f"commission-{i}", totp=True)
        Membership.objects.create(user=member, organisation=buyer, role=Membership.Role.COMMISSION_MEMBER)
        ceremony_passphrase_set(user=member, passphrase=CEREMONY_PASSPHRASE)
        members.append(member)
    services.commission_set(
        consultation=consultation, updated_by=agent, members=members, president=members[0], quorum=2
    )
    services.dce_add_files(
        consultation=consultation, added_by=agent, uploads=[("RC.pdf", io.BytesIO(b"%PDF-1.4 reglement"))]
    )
    return services.consultation_publish(consultation=consultation, published_by=agent)


@dataclass
class Bidder:
    company_id: int
    user_id: int
    token: str


def make_bidders(tag: str, prefix: str, count: int) -> list[Bidder]:
    """Companies of one admin each, with a personal API token."""
    from comptes.models import Membership, Organisation
    from comptes.services import api_token_create

    bidders = []
    for i in range(count):
        company = _organisation(Organisation.Kind.COMPANY, f"Entreprise {prefix}-{i} (banc d'essai)")
        user = _user(tag, f"{prefix}-{i}")
        Membership.objects.create(user=user, organisation=company, role=Membership.Role.COMPANY_ADMIN)
        _, token = api_token_create(user=user, name="banc d'essai")
        bidders.append(Bidder(company.pk, user.pk, token))
    return bidders


# --- Ciphertexts ------------------------------------------------------------------------------


class _RandomPlaintext:
    """`size` random bytes, produced as they are read: nothing held in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, size: int = -1) -> bytes:
        n = min(self.left if size is None or size < 0 else size, self.left, MiB)
        self.left -= n
        return os.urandom(n)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _HashingWriter:
    def __init__(self, handle) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def plaintext_for(ciphertext_bytes: int) -> int:
    """A plaintext size whose age file (header of a few hundred bytes, 16 bytes of tag per
    64 KiB) stays just under `ciphertext_bytes`."""
    return ciphertext_bytes - 1024 - 16 * (ciphertext_bytes // AGE_CHUNK + 1)


def encrypt(path: Path, plaintext_bytes: int, recipient: str) -> str:
    """Stream random plaintext through pyrage (the library the platform itself uses) into
    an age v1 binary file; returns the ciphertext's SHA-256."""
    import pyrage

    with path.open("wb") as handle:
        writer = _HashingWriter(handle)
        pyrage.encrypt_io(
            _RandomPlaintext(plaintext_bytes), writer, [pyrage.x25519.Recipient.from_str(recipient)]
        )
    return writer.digest.hexdigest()


# --- Web processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(workers: int, log: Path):
    """gunicorn with docker/gunicorn.conf.py (sync workers, 60 s timeout), bound to a free
    port of 127.0.0.1, over the same database, media and key folders as this script."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--access-logfile", str(log), "--error-logfile", str(log), "config.wsgi:application",
    ]  # fmt: skip
    # Django's own error log (tracebacks of HTTP 500s) goes to the workers' stderr: same file.
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ), stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            if process.poll() is not None:
                break
            try:
                if get(url, "/healthz")[0] == 200 and len(worker_pids(process.pid)) == workers:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise BenchError(f"gunicorn n'a pas démarré :\n{log.read_text()[-3000:]}")
        if process.poll() is not None:
            raise BenchError(f"gunicorn s'est arrêté :\n{log.read_text()[-3000:]}")
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return []
    return [int(pid) for pid in children]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (highest resident since start or reset), in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


# --- Where the two cores went -----------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + ((cutime + cstime) if reaped_children else 0)) / TICK


@dataclass
class Cpu:
    wall: float
    machine: float
    server: float
    client: float
    database: dict[int, float]


def cpu_snapshot(master: int | None) -> Cpu:
    """CPU seconds so far: the whole machine (/proc/stat), the gunicorn workers (alive, and
    those the master reaped), this process, and the PostgreSQL backends of this database."""
    from django.db import connection

    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = values
    server = 0.0
    if master is not None:
        server = _cpu_seconds(master, reaped_children=True) + sum(
            _cpu_seconds(p) for p in worker_pids(master)
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        backends = [pid for (pid,) in cursor.fetchall()]
    times = os.times()
    return Cpu(
        wall=time.perf_counter(),
        machine=(user + nice + system + irq + softirq) / TICK,
        server=server,
        client=times.user + times.system,
        database={pid: _cpu_seconds(pid) for pid in backends},
    )


def cpu_row(before: Cpu, after: Cpu) -> None:
    wall = after.wall - before.wall
    server = after.server - before.server
    client = after.client - before.client
    database = sum(seconds - before.database.get(pid, 0.0) for pid, seconds in after.database.items())
    others = max(0.0, after.machine - before.machine - server - client - database)
    row(
        "CPU (s) : workers / client (ce script) / PostgreSQL (cette base) / reste",
        f"{server:.1f} / {client:.1f} / {database:.1f} / {others:.1f}",
        f"sur {wall:.1f} s × {os.cpu_count()} cœurs",
    )


# --- HTTP client ------------------------------------------------------------------------------


class _Slice:
    """`length` bytes of an open file from its current position, read as http.client sends
    them: the chunk's body is streamed, never held whole."""

    def __init__(self, handle, length: int) -> None:
        self.handle, self.left = handle, length

    def read(self, size: int = -1) -> bytes:
        n = self.left if size is None or size < 0 else min(size, self.left)
        data = self.handle.read(n)
        self.left -= len(data)
        return data


def _request(url: str, method: str, path: str, body=None, headers: dict | None = None):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT, blocksize=MiB)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(data) if data else {}
    except ValueError:
        return response.status, {"raw": data[:300].decode(errors="replace")}


def get(url: str, path: str):
    return _request(url, "GET", path)


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.auth = url, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, data: dict | None = None):
        body = None if data is None else json.dumps(data).encode()
        headers = {**self.auth, **({"Content-Type": "application/json"} if body is not None else {})}
        return _request(self.url, method, path, body, headers)

    def put_chunk(self, path: str, handle, offset: int, length: int):
        handle.seek(offset)
        headers = {
            **self.auth,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(length),
        }
        return _request(self.url, "PUT", f"{path}?offset={offset}", _Slice(handle, length), headers)


def expect(status: int, body: dict, wanted: int, what: str) -> dict:
    if status != wanted:
        raise BenchError(f"{what} : HTTP {status} au lieu de {wanted} — {json.dumps(body)[:500]}")
    return body


@dataclass
class Upload:
    deposit: str
    size: int
    sha256: str
    chunk_seconds: list[float] = field(default_factory=list)


def upload(api: Api, consultation_id: int, path: Path, name: str, progress=None) -> Upload:
    """Open a deposit, announce one file, send it in 8 MiB chunks, as docs/depot-cli.md does."""
    deposit = expect(
        *api.call("POST", "/api/v1/depots/", {"consultation": consultation_id}), 201, "ouverture"
    )
    base = f"/api/v1/depots/{deposit['id']}"
    size = path.stat().st_size
    file = expect(
        *api.call("POST", f"{base}/fichiers/", {"envelope": "offer", "name": name, "size": size}),
        201,
        "annonce du fichier",
    )
    content = f"{base}/fichiers/{file['id']}/contenu"
    result = Upload(deposit["id"], size, "")
    with path.open("rb") as handle:
        offset = 0
        while offset < size:
            length = min(CHUNK, size - offset)
            start = time.perf_counter()
            state = expect(*api.put_chunk(content, handle, offset, length), 200, f"morceau {offset}")
            result.chunk_seconds.append(time.perf_counter() - start)
            offset = state["received"]
            if progress is not None:
                progress(offset)
    if not state["complete"]:
        raise BenchError(f"{name} : fichier incomplet après le dernier morceau")
    result.sha256 = state["sha256"]
    return result


def warm_up(url: str, consultation_id: int, bidders: list[Bidder], small: Path, count: int) -> None:
    """Deposits of a small file, sent then finalised `count` at a time, so that every worker has
    imported and connected before anything is timed (a cold worker's first requests are slow).
    Openings and finalisations are not mixed: see bench_mixed."""
    apis = [Api(url, bidders[i % len(bidders)].token) for i in range(count)]

    def send(i: int) -> Upload:
        return upload(apis[i], consultation_id, small, f"echauffement-{i}.age")

    def finalise(i: int) -> None:
        answer = apis[i].call("POST", f"/api/v1/depots/{sent[i].deposit}/valider")
        expect(*answer, 200, "validation (échauffement)")

    with ThreadPoolExecutor(count) as pool:
        sent = list(pool.map(send, range(count)))
        list(pool.map(finalise, range(count)))


def fsync_stored(public_ids: list[str]) -> float:
    """Seconds to flush to disk what is still in the page cache of the chunk files the server
    stored for these deposits: what an acknowledgement did not make durable."""
    from django.conf import settings

    from offres.models import DepositChunk

    names = DepositChunk.objects.filter(file__deposit__public_id__in=public_ids).values_list(
        "storage_name", flat=True
    )
    start = time.perf_counter()
    for name in names:
        fd = os.open(Path(settings.MEDIA_ROOT) / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return time.perf_counter() - start


def dd(sources: list[Path], target: Path, *, fsync: bool) -> float:
    """Wall seconds for one `dd bs=8M` per source, all at once, into the media folder."""
    os.sync()  # start from a clean page cache, as the uploads do
    outputs = [target / f"dd-{i}.out" for i in range(len(sources))]
    extra = ["conv=fsync"] if fsync else []
    start = time.perf_counter()
    processes = [
        subprocess.Popen(["dd", f"if={src}", f"of={out}", "bs=8M", "status=none", *extra])
        for src, out in zip(sources, outputs, strict=True)
    ]
    if any(p.wait() for p in processes):
        raise BenchError("dd a échoué")
    elapsed = time.perf_counter() - start
    for out in outputs:
        out.unlink()
    os.sync()
    return elapsed


# --- Throughput ------------------------------------------------------------------------------


def bench_throughput(url, master: int, consultation, bidders, files, media: Path, workers: int) -> None:
    size = files[0][0].stat().st_size
    total = sum(path.stat().st_size for path, _ in files)
    print(
        f"\nDébit : {len(files)} plis simultanés de {size / MiB:.0f} Mio ({total / MB:,.0f} Mo), morceaux de "
        f"{CHUNK // MiB} Mio, gunicorn {workers} workers sync ; {load()}"
    )
    sources = [path for path, _ in files]
    dd_before = total / dd(sources, media, fsync=True) / MB
    dd_cache = total / dd(sources, media, fsync=False) / MB

    os.sync()
    cpu = cpu_snapshot(master)
    start = time.perf_counter()
    with ThreadPoolExecutor(len(files)) as pool:
        uploads = list(
            pool.map(
                lambda i: upload(
                    Api(url, bidders[i].token), consultation.pk, files[i][0], f"offre-{i}.pdf.age"
                ),
                range(len(files)),
            )
        )
    elapsed = time.perf_counter() - start
    cpu_after = cpu_snapshot(master)
    flush = fsync_stored([u.deposit for u in uploads])
    intact = sum(u.sha256 == sha for u, (_, sha) in zip(uploads, files, strict=True))
    dd_after = total / dd(sources, media, fsync=True) / MB
    dd_ref = (dd_before + dd_after) / 2

    acked = total / elapsed / MB
    durable = total / (elapsed + flush) / MB
    chunks = [s for u in uploads for s in u.chunk_seconds[:-1]]
    lasts = [u.chunk_seconds[-1] for u in uploads]
    row(f"référence : {len(files)} dd bs=8M conv=fsync en parallèle, avant", f"{dd_before:,.0f} Mo/s")
    row("référence : la même chose, après les envois", f"{dd_after:,.0f} Mo/s")
    row("pour information : dd sans fsync (cache de pages)", f"{dd_cache:,.0f} Mo/s")
    verdict = "objectif ≥ 0,5 atteint" if acked / dd_ref >= GOAL_DISK_RATIO else "objectif ≥ 0,5 MANQUÉ"
    row(
        "API, du premier octet au dernier accusé de morceau",
        f"{acked:,.0f} Mo/s",
        f"× {acked / dd_ref:.2f} dd ({verdict})",
    )
    row(
        "API + fsync des morceaux stockés (durable, comme dd)",
        f"{durable:,.0f} Mo/s",
        f"× {durable / dd_ref:.2f} dd",
    )
    row("  dont fsync des morceaux après coup", f"{flush:.2f} s")
    row("morceau de 8 Mio (hors dernier), p50", f"{statistics.median(chunks) * 1000:,.0f} ms")
    row("morceau de 8 Mio (hors dernier), p95", f"{percentile(chunks, 0.95) * 1000:,.0f} ms")
    row(
        "dernier morceau (achève le SHA-256 du fichier), p50",
        f"{statistics.median(lasts) * 1000:,.0f} ms",
    )
    row("SHA-256 du serveur identique à celui du fichier envoyé", f"{intact}/{len(files)}")
    cpu_row(cpu, cpu_after)
    print(f"  ({load()})")


# --- Memory ------------------------------------------------------------------------------------


def bench_memory(
    consultation,
    warm_up_bidder: Bidder,
    sender: Bidder,
    big: tuple[Path, str],
    small: Path,
    media: Path,
    logs: Path,
) -> None:
    path, sha = big
    size = path.stat().st_size
    print(f"\nMémoire : un pli de {size / 1024**3:.2f} Gio envoyé à un serveur d'un seul worker ; {load()}")
    dd_big = size / dd([path], media, fsync=True) / MB
    with gunicorn(1, logs / "gunicorn-memoire.log") as (url, process):
        (worker,) = worker_pids(process.pid)
        # Warm-up: every code path of a deposit once, so imports and caches are counted in
        # the baseline, not in the growth.
        warm_up(url, consultation.pk, [warm_up_bidder], small, 2)
        for _ in range(5):
            get(url, "/healthz")
        baseline = memory_kib(worker)["VmRSS"]
        try:
            Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM := VmRSS
            hwm_reset = True
        except OSError:
            hwm_reset = False
        acked = [0]
        samples: list[tuple[int, int]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((acked[0], memory_kib(worker)["VmRSS"]))
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        os.sync()
        cpu = cpu_snapshot(process.pid)
        start = time.perf_counter()
        result = upload(
            Api(url, sender.token),
            consultation.pk,
            path,
            "offre-2-gio.pdf.age",
            progress=lambda n: acked.__setitem__(0, n),
        )
        elapsed = time.perf_counter() - start
        cpu_after = cpu_snapshot(process.pid)
        time.sleep(0.2)
        stop.set()
        sampler.join()
        status = memory_kib(worker)
        flush = fsync_stored([result.deposit])
        receipt = expect(
            *Api(url, sender.token).call("POST", f"/api/v1/depots/{result.deposit}/valider"),
            200,
            "validation du gros pli",
        )
    peak = max(rss for _, rss in samples)
    throughput = size / elapsed / MB
    row("référence : un dd bs=8M conv=fsync du même fichier", f"{dd_big:,.0f} Mo/s")
    row(
        "envoi par l'API, jusqu'au dernier accusé",
        f"{throughput:,.0f} Mo/s",
        f"× {throughput / dd_big:.2f} dd",
    )
    row(
        "  + fsync des morceaux stockés",
        f"{size / (elapsed + flush) / MB:,.0f} Mo/s",
        f"× {size / (elapsed + flush) / MB / dd_big:.2f} dd",
    )
    row(
        "morceau de 8 Mio (hors dernier), p50",
        f"{statistics.median(result.chunk_seconds[:-1]) * 1000:,.0f} ms",
    )
    row(
        f"dernier morceau (achève le SHA-256 de {size / 1024**3:.2f} Gio)",
        f"{result.chunk_seconds[-1] * 1000:,.0f} ms",
    )
    row("mémoire résidente du worker avant (après échauffement)", f"{baseline / 1024:,.1f} Mio")
    for fraction in (0.25, 0.5, 0.75, 1.0):
        rss = next((r for n, r in samples if n >= fraction * size), samples[-1][1])
        row(
            f"  à {fraction:.0%} de l'envoi", f"{rss / 1024:,.1f} Mio", f"{(rss - baseline) / 1024:+,.1f} Mio"
        )
    row(
        f"pic échantillonné ({len(samples)} relevés, toutes les 100 ms)",
        f"{peak / 1024:,.1f} Mio",
        f"{(peak - baseline) / 1024:+,.1f} Mio",
    )
    if hwm_reset:
        row(
            "pic noté par le noyau (VmHWM)",
            f"{status['VmHWM'] / 1024:,.1f} Mio",
            f"{(status['VmHWM'] - baseline) / 1024:+,.1f} Mio",
        )
    flat = (max(status["VmHWM"] if hwm_reset else 0, peak) - baseline) * 1024 < 64 * MiB
    row("verdict (croissance < 64 Mio pour 2 Gio)", "plate" if flat else "NON PLATE")
    same = receipt["files"][0]["sha256"] == sha and result.sha256 == sha
    row("reçu, SHA-256 du bordereau identique au fichier envoyé", "oui" if same else "NON")
    cpu_row(cpu, cpu_after)
    print(f"  ({load()})")


# --- Deadline rush ------------------------------------------------------------------------------


def prepare_rush(consultation, bidders: list[Bidder], ciphertext: bytes) -> list[tuple[int, str, Bidder]]:
    """Deposits fully uploaded but not finalised, through the services (what the API calls)."""
    from comptes.models import Organisation, User
    from offres import deposits

    prepared = []
    for bidder in bidders:
        user = User.objects.get(pk=bidder.user_id)
        company = Organisation.objects.get(pk=bidder.company_id)
        deposit = deposits.deposit_open(consultation=consultation, company=company, user=user, lots=[])
        file = deposits.file_add(
            deposit=deposit, user=user, envelope="offer", name="offre.pdf.age", size=len(ciphertext)
        )
        deposits.chunk_receive(
            file=file, user=user, offset=0, stream=io.BytesIO(ciphertext), length=len(ciphertext)
        )
        prepared.append((deposit.pk, str(deposit.public_id), bidder))
    return prepared


@dataclass
class Shot:
    status: int
    body: dict
    latency: float  # from the scheduled arrival to the end of the answer
    lag: float  # how late the client sent it


def fire(count: int, seconds: float, call, *, together: int = 1) -> tuple[list[Shot], float]:
    """`count` calls at a steady arrival rate over `seconds`, `together` at a time, each in
    its own thread so slow answers overlap (an open loop: a slow server does not slow the
    arrivals down)."""
    interval = seconds / count * together
    shots: list[Shot | None] = [None] * count

    def one(i: int, at: float) -> None:
        sent = time.perf_counter()
        try:
            status, body = call(i)
        except OSError as exc:
            status, body = 0, {"error": str(exc)}
        shots[i] = Shot(status, body, time.perf_counter() - at, sent - at)

    with ThreadPoolExecutor(max_workers=min(count, 200)) as pool:
        start = time.perf_counter() + 0.2
        for i in range(count):
            at = start + (i // together) * interval
            time.sleep(max(0.0, at - time.perf_counter()))
            pool.submit(one, i, at)
    return shots, time.perf_counter() - start


def bench_rush(url: str, master: int, prepared, seconds: float, workers: int) -> None:
    from django.db.models import Count

    from offres.models import Deposit
    from preuves import log as preuves_log
    from preuves.models import Checkpoint, LogLeaf

    count = len(prepared)
    print(
        f"\nRuée de fin de délai : {count} validations en {seconds:.0f} s ({count / seconds:.1f}/s, arrivées "
        f"régulières), gunicorn {workers} workers sync ; {load()}"
    )
    cpu = cpu_snapshot(master)
    health, _ = fire(count, seconds, lambda i: get(url, "/healthz"))
    cpu_health = cpu_snapshot(master)
    base = [s.latency for s in health if s.status == 200]
    if len(base) != count:
        raise BenchError(f"GET /healthz : {count - len(base)} réponses sans HTTP 200")
    base_p50 = statistics.median(base)

    size_before = preuves_log.current_head().size
    leaves_before = LogLeaf.objects.filter(kind="deposit").count()
    checkpoints_before = Checkpoint.objects.count()
    cpu_rush = cpu_snapshot(master)
    shots, elapsed = fire(
        count,
        seconds,
        lambda i: Api(url, prepared[i][2].token).call("POST", f"/api/v1/depots/{prepared[i][1]}/valider"),
    )
    cpu_after = cpu_snapshot(master)
    times = [s.latency for s in shots]
    ok = [s for s in shots if s.status == 200 and s.body.get("state") == "received"]
    p50, p99 = statistics.median(times), percentile(times, 0.99)
    row("référence : GET /healthz au même rythme, p50", f"{base_p50 * 1000:,.1f} ms")
    row("référence : GET /healthz au même rythme, p99", f"{percentile(base, 0.99) * 1000:,.1f} ms")
    row("POST …/valider, p50", f"{p50 * 1000:,.0f} ms", f"× {p50 / base_p50:.0f} la référence")
    verdict = "objectif < 1 s atteint" if p99 < GOAL_P99_S else "objectif < 1 s MANQUÉ"
    row("POST …/valider, p99", f"{p99 * 1000:,.0f} ms", verdict)
    row("POST …/valider, max", f"{max(times) * 1000:,.0f} ms")
    row(
        "retard maximal du client sur le calendrier des arrivées",
        f"{max(s.lag for s in shots) * 1000:,.1f} ms",
    )
    row("dernière réponse après la première arrivée", f"{elapsed:,.1f} s")
    print("  pendant les GET /healthz :")
    cpu_row(cpu, cpu_health)
    print("  pendant les validations :")
    cpu_row(cpu_rush, cpu_after)
    row("accusés de réception reçus (HTTP 200, état reçu)", f"{len(ok)}/{count}")
    failures = defaultdict(int)
    for s in shots:
        if s not in ok:
            failures[(s.status, json.dumps(s.body)[:120])] += 1
    for (status, body), n in failures.items():
        row(f"  refus HTTP {status} × {n}", "", body)

    pks = [pk for pk, _, _ in prepared]
    received = Deposit.objects.filter(
        pk__in=pks, state=Deposit.State.RECEIVED, received_at__isnull=False, log_index__isnull=False
    )
    stats = received.aggregate(n=Count("pk"), indexes=Count("log_index", distinct=True))
    by_id = {str(public_id): index for public_id, index in received.values_list("public_id", "log_index")}
    matching = sum(
        1
        for shot, (_, public_id, _) in zip(shots, prepared, strict=True)
        if shot in ok and by_id.get(public_id) == shot.body.get("log_index")
    )
    grown = preuves_log.current_head().size - size_before
    leaves = LogLeaf.objects.filter(kind="deposit").count() - leaves_before
    head = preuves_log.current_head().size
    latest = Checkpoint.objects.order_by("-size").values_list("size", flat=True).first()
    row("en base : plis reçus (état, heure de réception, rang)", f"{stats['n']}/{count}")
    row("en base : rangs distincts dans le journal", f"{stats['indexes']}/{count}")
    row("accusés dont le rang est celui de la base", f"{matching}/{len(ok)}")
    row("feuilles « deposit » ajoutées au journal", f"{leaves}", f"(tête : +{grown})")
    row("points de contrôle signés pendant la ruée", f"{Checkpoint.objects.count() - checkpoints_before}")
    row(
        "dernier point de contrôle couvre tout le journal",
        "oui" if latest == head else f"NON ({latest}/{head})",
    )
    lost = count - stats["n"]
    row("perdus", f"{lost}", "rien de perdu" if lost == 0 else "PERTE")
    print(f"  ({load()})")


def bench_mixed(
    url: str, prepared, openers: list[Bidder], rate: float, consultation_id: int, log: Path
) -> None:
    """The same arrival rate, half finalisations and half deposits being opened, one of each
    at the same instant: what a real last minute looks like, with bidders still starting
    their deposits while others finalise."""
    count = len(prepared)
    seconds = 2 * count / rate
    print(
        f"\nRuée mêlée : {count} validations et {count} ouvertures de plis, par paires simultanées, en "
        f"{seconds:.0f} s ({rate:.1f} requêtes/s en tout) ; {load()}"
    )
    logged = log.stat().st_size

    def call(i: int):
        if i % 2 == 0:
            _, public_id, bidder = prepared[i // 2]
            return Api(url, bidder.token).call("POST", f"/api/v1/depots/{public_id}/valider")
        return Api(url, openers[i % len(openers)].token).call(
            "POST", "/api/v1/depots/", {"consultation": consultation_id}
        )

    shots, _ = fire(2 * count, seconds, call, together=2)
    with log.open("rb") as handle:
        handle.seek(logged)
        written = handle.read().decode(errors="replace")
    deadlocks = written.count("OperationalError: deadlock detected")
    # The last line of each traceback the server logged: what the HTTP 500s were.
    errors = defaultdict(int)
    for line in written.splitlines():
        if re.match(r"^[\w.]+(Error|Exception|Detected|Timeout)\b.*: ", line):
            errors[line[:150]] += 1
    for label, kind, wanted in (("POST …/valider", 0, 200), ("POST /api/v1/depots/ (ouverture)", 1, 201)):
        mine = shots[kind::2]
        times = [s.latency for s in mine]
        ok = sum(s.status == wanted for s in mine)
        p50, p99 = statistics.median(times) * 1000, percentile(times, 0.99) * 1000
        row(f"{label}, p50 / p99", f"{p50:,.0f} / {p99:,.0f} ms")
        row(f"{label}, HTTP {wanted}", f"{ok}/{len(mine)}", "" if ok == len(mine) else "ÉCHECS")
        statuses = defaultdict(int)
        for s in mine:
            if s.status != wanted:
                statuses[s.status] += 1
        for status, n in sorted(statuses.items()):
            row(f"  HTTP {status}", f"{n}")
    row(
        "interblocages PostgreSQL dans le journal du serveur",
        f"{deadlocks}",
        "INTERBLOCAGE" if deadlocks else "",
    )
    for line, n in sorted(errors.items(), key=lambda item: -item[1])[:5]:
        print(f"    {n} × {line}")
    print(f"  ({load()})")


# --- Where the time goes ----------------------------------------------------------------------


@contextmanager
def stage_timers(targets: dict[str, tuple[object, str]]):
    """Wrap module functions to add up their wall time; a stage called inside another one is
    counted in the outer one only."""
    totals: dict[str, float] = defaultdict(float)
    active: list[str] = []
    originals = {}
    for label, (module, name) in targets.items():
        original = getattr(module, name)
        originals[label] = (module, name, original)

        def timed(*args, _original=original, _label=label, **kwargs):
            if active:
                return _original(*args, **kwargs)
            active.append(_label)
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_label] += time.perf_counter() - start
                active.pop()

        setattr(module, name, timed)
    try:
        yield totals
    finally:
        for module, name, original in originals.values():
            setattr(module, name, original)


def bench_stages(consultation, prepared, bidder: Bidder, path: Path) -> None:
    """In this process, without HTTP: one upload of `path` in 8 MiB chunks and a few
    finalisations, with the time of their parts."""
    from comptes.models import Organisation, User
    from offres import deposits, receipts
    from preuves import journal, timestamps
    from preuves import log as preuves_log

    print(f"\nOù va le temps (dans ce processus, sans HTTP) ; {load()}")
    user = User.objects.get(pk=bidder.user_id)
    company = Organisation.objects.get(pk=bidder.company_id)
    size = path.stat().st_size
    with stage_timers({"_complete": (deposits, "_complete")}) as totals:
        deposit = deposits.deposit_open(consultation=consultation, company=company, user=user, lots=[])
        file = deposits.file_add(
            deposit=deposit, user=user, envelope="offer", name="profil.pdf.age", size=size
        )
        os.sync()
        start = time.perf_counter()
        with path.open("rb") as handle:
            for offset in range(0, size, CHUNK):
                length = min(CHUNK, size - offset)
                deposits.chunk_receive(
                    file=file, user=user, offset=offset, stream=_Slice(handle, length), length=length
                )
        total = time.perf_counter() - start
    complete = totals["_complete"]
    row(f"chunk_receive de {size / MiB:.0f} Mio en morceaux de 8 Mio", f"{size / total / MB:,.0f} Mo/s")
    row(
        "  dont _complete (fin du SHA-256 ; relecture du fichier sans état sauvegardé)",
        f"{complete * 1000:,.0f} ms",
        f"{complete / total:.0%} du temps",
    )

    stages = {
        "jeton d'horodatage du bordereau": (timestamps, "timestamp_data"),
        "ajout au journal de transparence": (preuves_log, "append"),
        "événements du journal (journal.record)": (journal, "record"),
        "point de contrôle signé et horodaté (après commit)": (preuves_log, "checkpoint"),
        "accusé PDF scellé et courriel (tâche, ici immédiate)": (receipts, "send_receipt"),
    }
    with stage_timers(stages) as totals:
        start = time.perf_counter()
        for _, public_id, rush_bidder in prepared:
            from offres.models import Deposit

            deposit = Deposit.objects.get(public_id=public_id)
            deposits.deposit_finalise(deposit=deposit, user=User.objects.get(pk=rush_bidder.user_id))
        total = (time.perf_counter() - start) / len(prepared)
    row(f"deposit_finalise, moyenne sur {len(prepared)}", f"{total * 1000:,.1f} ms")
    for label in stages:
        share = totals[label] / len(prepared)
        row(f"  {label}", f"{share * 1000:,.1f} ms", f"{share / total:.0%}")
    after = (
        totals["point de contrôle signé et horodaté (après commit)"]
        + totals["accusé PDF scellé et courriel (tâche, ici immédiate)"]
    )
    row("  sous le verrou de la consultation (le reste)", f"{(total - after / len(prepared)) * 1000:,.1f} ms")


# --- Main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrent", type=int, default=8, help="plis envoyés en même temps (défaut 8)")
    parser.add_argument("--size-mib", type=int, default=128, help="taille de chacun, en Mio (défaut 128)")
    parser.add_argument(
        "--big-gib", type=float, default=2.0, help="le gros pli de la mesure mémoire (défaut 2)"
    )
    parser.add_argument("--rush", type=int, default=500, help="validations de la ruée (défaut 500)")
    parser.add_argument("--rush-seconds", type=float, default=60.0, help="durée de la ruée (défaut 60 s)")
    parser.add_argument(
        "--mixed", type=int, default=100, help="validations de la ruée mêlée d'ouvertures (défaut 100)"
    )
    parser.add_argument(
        "--workers", type=int, default=3, help="workers gunicorn (défaut 3, comme en production)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="garder le dossier de travail (journaux des serveurs)"
    )
    parser.add_argument(
        "--scratch", type=Path, default=Path(tempfile.gettempdir()), help="dossier du disque mesuré"
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=["throughput", "memory", "rush", "mixed", "stages"]
    )
    args = parser.parse_args()

    big_bytes = int(args.big_gib * 1024**3)
    scratch = Path(tempfile.mkdtemp(prefix="profil-bench-depots-", dir=args.scratch))
    try:
        setup_django(scratch, big_bytes)
        run(args, scratch, big_bytes)
    finally:
        if args.keep:
            print(f"Dossier de travail gardé : {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def run(args, scratch: Path, big_bytes: int) -> None:
    from django.conf import settings
    from django.db.models import Max
    from django.utils import timezone

    from comptes.models import Organisation
    from preuves import keys

    global _numbers
    common.ensure_database()
    print(f"Machine : {machine()}")
    print(f"Code mesuré : {code_state()}")
    print(f"{timezone.localtime():%Y-%m-%d %H:%M}, dossier mesuré : {scratch} ; {load()}")
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    ciphertexts = scratch / "chiffres"
    ciphertexts.mkdir()
    logs = scratch / "journaux"
    logs.mkdir()

    started = time.perf_counter()
    keys.material()  # created once here, before the servers read them
    _numbers = itertools.count((Organisation.objects.aggregate(m=Max("pk"))["m"] or 0) + 1)
    tag = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    consultation = publish_consultation(tag, max(settings.DEPOSIT_MAX_BYTES_LIMIT, big_bytes))
    recipient = consultation.opening_keys.get(envelope="offer").recipient
    uploaders = make_bidders(tag, "envoi", args.concurrent + 3)
    rush_bidders = make_bidders(tag, "ruee", args.rush + STAGE_FINALISATIONS + args.mixed)
    small = ciphertexts / "petit.age"
    encrypt(small, 200 * 1024, recipient)
    prepared = prepare_rush(consultation, rush_bidders, small.read_bytes())
    print(
        f"Préparation : consultation publiée, {len(uploaders) + len(rush_bidders)} entreprises, "
        f"{len(prepared)} plis envoyés à valider, en {time.perf_counter() - started:.0f} s"
    )
    started = time.perf_counter()
    size = args.size_mib * MiB
    files = []
    for i in range(args.concurrent):
        path = ciphertexts / f"offre-{i}.age"
        files.append((path, encrypt(path, plaintext_for(size), recipient)))
    big = ciphertexts / "gros.age"
    big_sha = encrypt(big, plaintext_for(big_bytes), recipient)
    print(
        f"Chiffrement (pyrage, en flux) : {args.concurrent} × {size / MiB:.0f} Mio et "
        f"{big.stat().st_size / 1024**3:.2f} Gio en {time.perf_counter() - started:.0f} s"
    )

    rush, staged = prepared[: args.rush], prepared[args.rush : args.rush + STAGE_FINALISATIONS]
    mixed = prepared[args.rush + STAGE_FINALISATIONS :]
    if "stages" not in args.skip:
        bench_stages(consultation, staged, uploaders[args.concurrent + 2], files[0][0])
    if {"throughput", "rush", "mixed"} - set(args.skip):
        with gunicorn(args.workers, logs / "gunicorn.log") as (url, process):
            warm_up(url, consultation.pk, uploaders[: args.concurrent], small, 3 * args.workers)
            if "throughput" not in args.skip:
                bench_throughput(url, process.pid, consultation, uploaders, files, media, args.workers)
            if "rush" not in args.skip:
                bench_rush(url, process.pid, rush, args.rush_seconds, args.workers)
            if "mixed" not in args.skip and mixed:
                rate = args.rush / args.rush_seconds
                bench_mixed(
                    url, mixed, uploaders[: args.concurrent], rate, consultation.pk, logs / "gunicorn.log"
                )
    if "memory" not in args.skip:
        warm_up_bidder, sender = uploaders[args.concurrent : args.concurrent + 2]
        bench_memory(consultation, warm_up_bidder, sender, (big, big_sha), small, media, logs)
    print(f"\nFin ; {load()}")


if __name__ == "__main__":
    main()
