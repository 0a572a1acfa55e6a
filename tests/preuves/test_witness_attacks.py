"""The witness code under attack: an outsider posting junk to add-checkpoint and to the
cosignatures endpoint, a malicious log serving the pull side, a malicious witness, races,
`preuves verify` on crafted leaves, and `verifier.py --log` against a hostile server."""

from __future__ import annotations

import base64
import http.server
import importlib
import json
import threading
import urllib.parse
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config.errors import ApplicationError
from preuves import anchoring, audit, journal, keys, log, merkle, timestamps, verifier, witness
from preuves.models import Checkpoint, Cosignature, JournalEntry, LogLeaf, LogNode, WitnessedLog

from .tampering import rewrite_entry
from .test_append_only import _dump, evidence  # noqa: F401 (evidence: a fixture)

_STRICT = importlib.import_module("preuves.migrations.0006_append_only_strict")

C2SP_STATUSES = {200, 400, 403, 404, 409, 413, 422}
FUZZ = hypothesis_settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _own_log_vkey() -> str:
    return verifier.log_vkey(_origin(), keys.material().log_key.public_key())


def _origin() -> str:
    from django.conf import settings

    return settings.PREUVES_LOG_ORIGIN


def _b64_proof(hashes: list[str]) -> str:
    return "".join(base64.b64encode(bytes.fromhex(h)).decode() + "\n" for h in hashes)


def signed(origin: str, size: int, root: bytes, key: Ed25519PrivateKey) -> str:
    """A checkpoint note signed with `key`: what a log holding its own key can produce."""
    body = verifier.note_body(origin, size, root)
    raw = verifier._raw_key(key.public_key())
    return verifier.signed_note(body, origin, verifier.key_id(origin, raw), key.sign(body.encode()))


@pytest.fixture
def witnessing(db, client, settings):
    """This instance witnesses its own log (configured), which has 3 leaves."""
    settings.PREUVES_WITNESSED_LOGS = [_own_log_vkey()]
    for i in range(3):
        log.append("test", {"n": i})
    point = log.checkpoint()

    def post(body: bytes | str):
        if isinstance(body, str):
            body = body.encode()
        return client.post("/preuves/temoin/add-checkpoint", body, content_type="text/plain")

    return point, post


# --- add-checkpoint, from outside --------------------------------------------------------


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_add_checkpoint(witnessing, body):
    _, post = witnessing
    assert post(body).status_code in C2SP_STATUSES


_proof_line = st.one_of(
    st.just("A" * 43 + "="),
    st.binary(min_size=0, max_size=40).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=50),
)
_old = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.just("0" * 30 + "3"),
    st.just("9" * 5000),  # more digits than int() reads by default
    st.just("3\r"),
    st.text(max_size=20),
)


@FUZZ
@given(
    old=_old,
    proof=st.lists(_proof_line, max_size=70),
    note=st.sampled_from(["real", "empty", "crlf", "many", "huge_size", "unicode", "text"]),
    text=st.text(max_size=80),
)
def test_structured_junk_gets_c2sp_codes(witnessing, old, proof, note, text):
    point, post = witnessing
    real = point.note
    line = real.rsplit("\n", 2)[-2]
    notes = {
        "real": real,
        "empty": "",
        "crlf": real.replace("\n", "\r\n"),
        "many": real + "".join(line + "\n" for _ in range(200)),
        "huge_size": real.replace(f"\n{point.size}\n", f"\n{'9' * 5000}\n", 1),
        "unicode": real.replace(point.origin, "journal-é\u200b✓/log"),
        "text": text,
    }
    body = f"old {old}\n" + "".join(p + "\n" for p in proof) + "\n" + notes[note]
    assert post(body).status_code in C2SP_STATUSES


def test_an_old_size_of_5000_digits_is_a_400(witnessing):
    point, post = witnessing
    answer = post(f"old {'9' * 5000}\n\n{point.note}")
    assert answer.status_code == 400
    assert "old" in answer.content.decode() or "taille" in answer.content.decode()


def test_a_note_size_of_5000_digits_is_a_400(witnessing):
    point, post = witnessing
    note = point.note.replace(f"\n{point.size}\n", f"\n{'9' * 5000}\n", 1)
    answer = post(f"old 0\n\n{note}")
    assert answer.status_code == 400
    assert "taille" in answer.content.decode()


def test_a_proof_of_63_lines_is_read_and_64_refused(witnessing):
    point, post = witnessing
    line = "A" * 43 + "=\n"
    assert post(f"old 0\n{line * 63}\n{point.note}").status_code == 422  # read, then wrong
    too_many = post(f"old 0\n{line * 64}\n{point.note}")
    assert too_many.status_code == 400
    assert "63" in too_many.content.decode()


def test_a_proof_with_equal_sizes_must_be_empty(witnessing):
    point, post = witnessing
    assert post(f"old 0\n\n{point.note}").status_code == 200
    answer = post(f"old {point.size}\n{'A' * 43}=\n\n{point.note}")
    assert answer.status_code in (400, 422), answer.content  # C2SP: the proof MUST be empty


def test_a_witness_that_saw_the_empty_log_follows_it(db, client, settings):
    """The empty log's checkpoint is cosigned; from size 0 any tree extends it."""
    settings.PREUVES_WITNESSED_LOGS = [_own_log_vkey()]
    empty = log.checkpoint()
    assert empty.size == 0
    assert witness.add_checkpoint(f"old 0\n\n{empty.note}".encode()).startswith(verifier.EM_DASH)
    for i in range(3):
        log.append("test", {"n": i})
    grown = log.checkpoint()
    line = witness.add_checkpoint(f"old 0\n\n{grown.note}".encode())
    assert line.startswith(verifier.EM_DASH)
    assert WitnessedLog.objects.get(origin=_origin()).size == 3


def test_a_signed_size_beyond_the_database_is_a_400(db, settings):
    """A malicious log signs a checkpoint of 2**63 leaves: refused in French, not a crash."""
    key = Ed25519PrivateKey.generate()
    origin = "malveillant.test/log"
    settings.PREUVES_WITNESSED_LOGS = [verifier.log_vkey(origin, key.public_key())]
    for size in (2**63, 2**64, 2**64 + 1):
        note = signed(origin, size, b"\1" * 32, key)
        with pytest.raises(witness.WitnessError) as refused:
            witness.add_checkpoint(f"old 0\n\n{note}".encode())
        assert refused.value.status == 400
        assert "taille" in refused.value.message
    assert not WitnessedLog.objects.exists()


def test_an_origin_longer_than_the_record_is_a_400(db, settings):
    key = Ed25519PrivateKey.generate()
    origin = "o" * 300
    settings.PREUVES_WITNESSED_LOGS = [verifier.log_vkey(origin, key.public_key())]
    note = signed(origin, 1, b"\1" * 32, key)
    with pytest.raises(witness.WitnessError) as refused:
        witness.add_checkpoint(f"old 0\n\n{note}".encode())
    assert refused.value.status == 400
    assert "origine" in refused.value.message
    assert not WitnessedLog.objects.exists()


# --- cosignatures posted to the log --------------------------------------------------------


@pytest.fixture
def cosigning(witnessing, settings):
    point, _ = witnessing
    settings.PREUVES_WITNESSES = [witness.own_witness().vkey]
    line = witness.add_checkpoint(f"old 0\n\n{point.note}".encode())
    return point, line


def _post_cosignature(client, size, body):
    if isinstance(body, str):
        body = body.encode()
    return client.post(f"/preuves/log/cosignatures?size={size}", body, content_type="text/plain")


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_junk_cosignatures_never_crash(cosigning, client, body):
    point, _ = cosigning
    answer = _post_cosignature(client, point.size, body)
    assert answer.status_code in (400, 403, 413)
    assert answer.json()["error"]["message"]


def _line_with(timestamp: int, point: Checkpoint, key=None) -> str:
    own = witness.own_witness()
    key = key or keys.material().witness_key
    signature = key.sign(verifier.cosigned_message(point.note.split("\n\n")[0] + "\n", timestamp))
    return verifier.cosignature_line(own.name, own.raw_key, timestamp, signature)


def test_a_configured_witness_signing_a_far_future_time_gets_a_400(cosigning, client):
    """A configured (malicious or broken) witness signs time 2**62: refused, not a 500."""
    point, _ = cosigning
    for moment in (2**62, 2**63 - 1, 253402300800):  # the last: year 10000
        answer = _post_cosignature(client, point.size, _line_with(moment, point))
        assert answer.status_code == 400, answer.content
        assert "horodatage" in answer.json()["error"]["message"]
    assert not Cosignature.objects.exists()


def test_replays_and_tampering_are_refused_or_idempotent(cosigning, client):
    point, line = cosigning
    first = _post_cosignature(client, point.size, line)
    again = _post_cosignature(client, point.size, line)
    twice = _post_cosignature(client, point.size, line + line)
    assert (first.status_code, again.status_code, twice.status_code) == (201, 201, 201)
    assert Cosignature.objects.count() == 1
    assert JournalEntry.objects.filter(action="log.cosignature").count() == 1
    # The same witness's line for another checkpoint.
    log.append("test", {"n": 9})
    other = log.checkpoint()
    assert _post_cosignature(client, other.size, line).status_code == 400
    # A genuine signature with its timestamp changed.
    blob = bytearray(base64.b64decode(line.split(" ")[-1].strip()))
    blob[11] ^= 1
    tampered = f"{verifier.EM_DASH} {witness.own_witness().name} {base64.b64encode(bytes(blob)).decode()}"
    assert _post_cosignature(client, other.size, tampered).status_code == 400
    assert Cosignature.objects.count() == 1


# --- the pull side against a malicious log -----------------------------------------------


def _mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return merkle.EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return verifier.node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


def _subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF."""
    n = len(hashes)
    if m == n:
        return [] if whole else [_mth(hashes)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, hashes[:k], whole), _mth(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), _mth(hashes[:k])]


class HostileLog:
    """A log on 127.0.0.1 that signs with its own key and serves whatever the test says:
    `routes[path]` is (status, body), a callable (query) -> (status, body), or b"RAW" for
    bytes that are not HTTP at all."""

    ORIGIN = "hostile.test/preuves/log"

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.leaves: list[bytes] = []
        self.routes: dict = {}
        self.posted: list[bytes] = []
        self.grow(4)

    def grow(self, n: int) -> None:
        start = len(self.leaves)
        self.leaves += [log.canonical({"type": "test", "n": i}) for i in range(start, start + n)]
        self.honest()

    @property
    def hashes(self) -> list[bytes]:
        return [merkle.leaf_hash(data) for data in self.leaves]

    def checkpoint(self, size: int | None = None, root: bytes | None = None) -> dict:
        size = len(self.leaves) if size is None else size
        root = _mth(self.hashes[:size]) if root is None else root
        note = signed(self.ORIGIN, size, root, self.key)
        return {"origin": self.ORIGIN, "size": size, "root_hash": root.hex(), "note": note}

    def honest(self) -> None:
        def consistency(query):
            first, second = int(query["first"]), int(query["second"])
            return 200, {"proof": [h.hex() for h in _subproof(first, self.hashes[:second], True)]}

        def leaves(query):
            start, end = int(query["start"]), int(query["end"])
            data = [{"data": base64.b64encode(d).decode()} for d in self.leaves[start:end]]
            return 200, {"leaves": data}

        self.routes = {
            "/preuves/log/checkpoint": lambda query: (200, self.checkpoint()),
            "/preuves/log/consistency": consistency,
            "/preuves/log/leaves": leaves,
            "/preuves/log/cosignatures": (201, {"size": 0, "cosignatures": []}),
        }


@pytest.fixture
def hostile(db):
    server_log = HostileLog()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self):
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            if self.command == "POST":
                server_log.posted.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            route = server_log.routes.get(parts.path, (404, {"error": {"message": "introuvable"}}))
            if route == b"RAW":
                self.wfile.write(b"ceci n'est pas du HTTP\r\n\r\n")
                return
            status, body, *headers = route(query) if callable(route) else route
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            self.send_response(status)
            for name, value in headers[0].items() if headers else ():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._answer()

        def do_POST(self):
            self._answer()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    server_log.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield server_log
    finally:
        server.shutdown()
        server.server_close()


def _pull(hostile: HostileLog) -> witness.WitnessOutcome:
    return witness.witness_log(hostile.url, log_key=hostile.key.public_key())


def _refused(hostile: HostileLog) -> str:
    """The pull refuses with an ApplicationError in French, and cosigns nothing new."""
    before = list(WitnessedLog.objects.values_list("size", "root_hash"))
    cosigned = JournalEntry.objects.filter(action="witness.cosigned").count()
    posted = len(hostile.posted)
    with pytest.raises(ApplicationError) as refused:
        _pull(hostile)
    assert list(WitnessedLog.objects.values_list("size", "root_hash")) == before
    assert JournalEntry.objects.filter(action="witness.cosigned").count() == cosigned
    assert len(hostile.posted) == posted
    return refused.value.message


def test_the_hostile_log_is_first_witnessed_when_honest(hostile):
    outcome = _pull(hostile)
    assert (outcome.size, outcome.refusal) == (4, "")
    hostile.grow(3)
    assert _pull(hostile).size == 7
    assert WitnessedLog.objects.get().frontier is not None
    assert len(hostile.posted) == 2


JUNK = [
    (500, {"error": "panne"}),
    (500, {"error": {"message": 5}}),
    (200, b"[" * 100_000),
    (200, b"\xff\xfe"),
    (200, json.dumps({"size": 1}).encode()),
    (200, b" " * (17 * 1024 * 1024) + b"{}"),
    (200, b"[]"),
]


@pytest.mark.parametrize("answer", [*JUNK, b"RAW"], ids=lambda a: repr(a)[:30])
def test_a_junk_checkpoint_is_refused(hostile, answer):
    hostile.routes["/preuves/log/checkpoint"] = answer
    assert _refused(hostile)


@pytest.mark.parametrize(
    "answer",
    [*JUNK, b"RAW", (200, {}), (200, {"proof": "zz"}), (200, {"proof": [1]}), (200, {"proof": ["zz"]})],
    ids=lambda a: repr(a)[:30],
)
def test_a_junk_consistency_proof_is_refused(hostile, answer):
    _pull(hostile)
    hostile.grow(3)
    hostile.routes["/preuves/log/consistency"] = answer
    assert _refused(hostile)


@pytest.mark.parametrize(
    "answer",
    [
        *JUNK,
        b"RAW",
        (200, {"leaves": "x"}),
        (200, {"leaves": [1, 2, 3]}),
        (200, {"leaves": [{"data": "!!"}] * 3}),
        (200, {"leaves": [{"data": 5}] * 3}),
    ],
    ids=lambda a: repr(a)[:30],
)
def test_junk_leaves_are_refused_and_nothing_cosigned(hostile, answer):
    _pull(hostile)
    hostile.grow(3)
    hostile.routes["/preuves/log/leaves"] = answer
    assert _refused(hostile)


def test_leaves_that_do_not_give_the_signed_root_are_never_cosigned(hostile):
    real = hostile.leaves
    hostile.leaves = [log.canonical({"type": "test", "autre": i}) for i in range(4)]
    signed_root = _mth([merkle.leaf_hash(d) for d in real])
    hostile.routes["/preuves/log/checkpoint"] = lambda query: (200, hostile.checkpoint(4, signed_root))
    message = _refused(hostile)
    assert "ne donnent pas la racine" in message
    assert not WitnessedLog.objects.exists()


def test_a_log_that_shrank_is_refused(hostile):
    _pull(hostile)
    hostile.grow(3)
    _pull(hostile)
    hostile.routes["/preuves/log/checkpoint"] = lambda query: (200, hostile.checkpoint(5))
    message = _refused(hostile)
    assert "ne présente plus que 5 feuilles, ce témoin en a contresigné 7" in message


def test_a_proof_of_the_wrong_length_is_a_fork_located_without_crashing(hostile):
    _pull(hostile)
    hostile.grow(3)
    proof = [h.hex() for h in _subproof(4, hostile.hashes, True)]
    hostile.routes["/preuves/log/consistency"] = (200, {"proof": proof[:-1]})
    hostile.routes["/preuves/log/leaves"] = (200, {"leaves": "x"})  # and junk where it locates
    message = _refused(hostile)
    assert "fourche" in message


def test_a_redirect_to_another_host_is_refused(hostile):
    port = hostile.url.rsplit(":", 1)[1]
    target = f"http://localhost:{port}/preuves/log/checkpoint"
    hostile.routes["/preuves/log/checkpoint"] = (302, b"", {"Location": target})
    message = _refused(hostile)
    assert "redirig" in message


# --- races (PostgreSQL: row locks and a unique index) ---------------------------------------


@pytest.fixture
def postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("row-level locks: needs PostgreSQL (DATABASE_URL=postgres://…), as in CI")


def _at_once(bodies: list[bytes]) -> list:
    """Each body submitted by its own thread (its own connection and transaction), together."""
    start = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def submit(n: int) -> None:
        start.wait()
        try:
            results[n] = witness.add_checkpoint(bodies[n])
        except Exception as exc:  # noqa: BLE001 (what the test looks at)
            results[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_first_submissions_cosign_once_and_never_fail(postgresql, settings):
    settings.PREUVES_WITNESSED_LOGS = [_own_log_vkey()]
    for i in range(3):
        log.append("test", {"n": i})
    point = log.checkpoint()
    results = _at_once([f"old 0\n\n{point.note}".encode()] * 6)
    lines = [r for r in results if isinstance(r, str)]
    refusals = [r for r in results if not isinstance(r, str)]
    assert len(lines) == 1, results
    assert all(isinstance(r, witness.WitnessError) and (r.status, r.size) == (409, 3) for r in refusals), (
        results
    )
    assert WitnessedLog.objects.get().size == 3


def test_concurrent_extensions_never_roll_the_record_back(postgresql, settings):
    settings.PREUVES_WITNESSED_LOGS = [_own_log_vkey()]
    for i in range(3):
        log.append("test", {"n": i})
    first = log.checkpoint()
    witness.add_checkpoint(f"old 0\n\n{first.note}".encode())
    bodies = []
    for n in range(4):
        log.append("test", {"n": 10 + n})
        point = log.checkpoint()
        bodies.append(f"old 3\n{_b64_proof(log.consistency(3, point.size)['proof'])}\n{point.note}".encode())
    results = _at_once(bodies)
    won = [n for n, r in enumerate(results) if isinstance(r, str)]
    assert len(won) == 1, results
    assert all(
        isinstance(r, witness.WitnessError) and r.status == 409 for r in results if not isinstance(r, str)
    )
    assert WitnessedLog.objects.get().size == 4 + won[0]
    assert JournalEntry.objects.filter(action="witness.cosigned").count() == 2


# --- `preuves verify` on crafted leaves ---------------------------------------------------


@pytest.fixture
def history(db):
    for i in range(3):
        journal.record("test.audit", payload={"montant": i})
    anchoring.anchor_journal()
    for i in range(2):
        log.append("test", {"n": i})
    log.checkpoint()
    assert audit.verify_all().ok


def _append_raw(kind: str, body: bytes) -> None:
    """A leaf whose bytes are whatever the operator writes (INSERT is allowed), appended
    the way the log appends: tree, head and a signed checkpoint all consistent."""
    with transaction.atomic():
        head = log._locked_head()
        keys_ = [merkle.key(level, position) for level, position in merkle.decompose(0, head.size)]
        stored = log.db_nodes(keys_)
        frontier = [stored[k] for k in keys_]
        digest = merkle.leaf_hash(body)
        created, frontier = merkle.append_nodes(head.size, frontier, digest)
        LogLeaf.objects.create(
            index=head.size, kind=kind, data=body, leaf_hash=digest, created_at=timezone.now()
        )
        LogNode.objects.bulk_create(LogNode(key=k, hash=h) for k, h in created)
        head.size += 1
        head.root_hash = merkle.fold(frontier)
        head.save(update_fields=["size", "root_hash"])
    log.checkpoint()


def _verify_problems() -> str:
    report = audit.verify_all()
    assert not report.ok
    return " | ".join(report.problems)


@pytest.mark.parametrize(
    "seq", [[1], {"n": 1}, "3", 10**30, -1, True, None, 1.5], ids=lambda s: type(s).__name__ + repr(s)[:8]
)
def test_an_anchor_with_a_crafted_seq_is_reported(history, seq):
    index = log.current_head().size
    log.append(anchoring.KIND, {"seq": seq, "hash": "0" * 64, "timestamp_sha256": "0" * 64})
    log.checkpoint()
    assert f"feuille n° {index}" in _verify_problems()


@pytest.mark.parametrize(
    "body",
    [
        b"\xff pas du JSON",
        b"[" * 100_000,
        b'"journal.head"',
        log.canonical({"type": "test", "x": {"type": "deposit"}}),
        log.canonical({"type": "deposit2", "n": 1}),
    ],
    ids=["binary", "nested", "string", "nested-type", "other-type"],
)
def test_a_leaf_whose_data_is_not_its_kind_is_reported(history, body):
    index = log.current_head().size
    _append_raw("deposit", body)
    assert f"feuille n° {index} :" in _verify_problems()


def test_an_anchor_disguised_under_another_kind_is_reported(history):
    index = log.current_head().size
    body = log.canonical({"type": anchoring.KIND, "seq": 1, "hash": "0" * 64, "x": {"type": "test"}})
    _append_raw("test", body)
    assert f"feuille n° {index} : son type enregistré « test »" in _verify_problems()


def test_a_second_anchor_of_a_rewritten_entry_does_not_hide_the_first(history):
    """The journal rewritten (as the owner), then the rewritten hashes anchored again — an
    INSERT, which the runtime role may do: the first anchors still contradict the journal."""
    rewrite_entry(2, {"montant": 1000})
    for leaf in list(LogLeaf.objects.filter(kind=anchoring.KIND).order_by("index")):
        data = json.loads(bytes(leaf.data))
        data["hash"] = JournalEntry.objects.get(seq=data["seq"]).hash
        token = timestamps.timestamp_digest(bytes.fromhex(data["hash"]), purpose="journal.anchor")
        data.update(log.leaf_digest_fields(token))
        del data["type"]
        log.append(anchoring.KIND, data)
    log.checkpoint()
    assert "journal réécrit" in _verify_problems()


# --- `verifier.py --log` against a hostile server ------------------------------------------


@dataclass
class _Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_verifier(capsys):
    """verifier.py's main() in this process: an exception it let through fails the test,
    as a traceback would end the command."""

    def run(*args: str) -> _Run:
        capsys.readouterr()
        code = verifier.main(list(args))
        out, err = capsys.readouterr()
        return _Run(code, out, err)

    return run


@pytest.fixture
def receipt_file(db, tmp_path):
    for i in range(3):
        log.append("test", {"n": i})
    log.checkpoint()
    path = tmp_path / "preuve.json"
    path.write_text(json.dumps(log.bundle(1)))
    return path


NOT_A_JSON_OBJECT = [answer for answer in JUNK if answer[1] != json.dumps({"size": 1}).encode()]


@pytest.mark.parametrize(
    "answer",
    [b"RAW", (404, {"error": {"message": "introuvable"}}), *NOT_A_JSON_OBJECT],
    ids=lambda a: repr(a)[:30],
)
def test_verifier_log_on_a_hostile_server_exits_2_in_french(hostile, receipt_file, answer, run_verifier):
    hostile.routes["/preuves/log/checkpoint"] = answer
    result = run_verifier(str(receipt_file), "--log", hostile.url)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "verifier.py : erreur : " in result.stderr


def test_verifier_log_on_an_object_that_is_no_checkpoint_reports_it(hostile, receipt_file, run_verifier):
    hostile.routes["/preuves/log/checkpoint"] = (200, {"size": 1})
    result = run_verifier(str(receipt_file), "--log", hostile.url)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "ÉCHEC  Point de contrôle actuel : champ « origin » absent" in result.stdout


def test_verifier_log_on_a_junk_consistency_proof_is_a_failure_not_a_crash(
    hostile, receipt_file, run_verifier
):
    """The current checkpoint is another log's: the report says so; junk proofs do not crash."""
    for answer in [b"RAW", (200, b"[" * 100_000), (200, {"proof": "zz"})]:
        hostile.routes["/preuves/log/consistency"] = answer
        result = run_verifier(str(receipt_file), "--log", hostile.url)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode in (1, 2), (result.stdout, result.stderr)


@pytest.mark.parametrize("checkpoint", ["x", [1], 5, None])
def test_verifier_log_with_a_receipt_whose_checkpoint_is_junk(hostile, tmp_path, checkpoint, run_verifier):
    path = tmp_path / "preuve.json"
    path.write_text(json.dumps({"format": verifier.BUNDLE_FORMAT, "checkpoint": checkpoint}))
    result = run_verifier(str(path), "--log", hostile.url)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Point de contrôle du reçu" in result.stdout


def test_a_checkpoint_with_a_lone_surrogate_is_refused(hostile):
    """JSON escapes can carry what UTF-8 cannot: the note must still be refused in French."""
    point = hostile.checkpoint()
    lone = {**point, "origin": point["origin"] + "\ud800", "note": point["note"].replace("\n", "\ud800\n", 1)}
    hostile.routes["/preuves/log/checkpoint"] = (200, json.dumps(lone).encode())
    assert "UTF-8" in _refused(hostile)


def test_a_post_with_one_unknown_line_stores_nothing(cosigning, client):
    """All the lines of a post are judged before any is stored: a refusal stores nothing."""
    point, line = cosigning
    stranger = verifier.cosignature_line("inconnu.test/temoin", b"\1" * 32, 1, b"\0" * 64)
    answer = _post_cosignature(client, point.size, line + stranger + "\n")
    assert answer.status_code == 403
    assert not Cosignature.objects.exists()
    assert not JournalEntry.objects.filter(action="log.cosignature").exists()


KEY_MATERIAL = base64.b64encode(b"\x04" + b"\x01" * 32).decode()
_ONE_KEY = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32).public_key()


@pytest.mark.parametrize(
    "args",
    [
        ["--witness", "t\udcff+abcd1234+" + KEY_MATERIAL],  # a non-UTF-8 byte of argv
        ["--witness", "a b+abcd1234+" + KEY_MATERIAL],
        ["--witnesses", "-1", "--witness", witness_vkey := verifier.Witness("t", _ONE_KEY).vkey],
        ["--witnesses", "0", "--witness", witness_vkey],
        ["--witnesses", "0"],
    ],
    ids=["surrogate", "space", "negative", "zero", "zero-alone"],
)
def test_verifier_witness_options_are_usage_errors(receipt_file, args, run_verifier):
    result = run_verifier(str(receipt_file), *args)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.stdout, result.stderr)


def test_a_log_that_renames_itself_cannot_start_afresh(hostile):
    """Same key, another origin: with the key offered again (a cron job that always passes
    --log-key), a new record from size 0 would cosign a rewritten history."""
    _pull(hostile)
    hostile.ORIGIN = "hostile.test/preuves/log2"
    hostile.leaves = [log.canonical({"type": "test", "réécrite": i}) for i in range(5)]
    message = _refused(hostile)
    assert "déjà épinglée pour l'origine « hostile.test/preuves/log »" in message
    assert WitnessedLog.objects.count() == 1


# --- side doors round the append-only triggers (0006 held against each) --------------------

SIDE_DOORS_SQLITE = [
    "INSERT OR IGNORE INTO {t} SELECT * FROM {t} WHERE {k} = {first}",
    "INSERT OR REPLACE INTO {t} SELECT * FROM {t}",  # INSERT … SELECT of every row
    "INSERT OR REPLACE INTO {t} ({k}) SELECT CAST({k} AS TEXT) FROM {t} WHERE {k} = {first}",
    "UPDATE OR REPLACE {t} SET {k} = {k} + 1000 WHERE {k} = {first}",
    "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t})",
]
SIDE_DOORS_POSTGRESQL = [
    "TRUNCATE {t} CASCADE",
    "DELETE FROM {t} USING {t} AS other WHERE {t}.{k} = other.{k}",
    "UPDATE {t} SET {k} = {k} WHERE {k} = {first}",
]


@pytest.mark.parametrize("table", sorted(set(_STRICT.TABLES) - {"preuves_journalhead", "preuves_loghead"}))
def test_side_doors_round_the_triggers_are_shut(evidence, table):  # noqa: F811
    key = "key" if table == "preuves_lognode" else "id"
    before = _dump(table)
    doors = SIDE_DOORS_SQLITE if connection.vendor == "sqlite" else SIDE_DOORS_POSTGRESQL
    for door in doors:
        sql = door.format(t=table, k=key, first=f"(SELECT MIN({key}) FROM {table})")
        if table == "preuves_witnessedlog" and door.startswith("UPDATE"):  # a head: forward only
            sql = sql.replace(f"SET {key} = {key} + 1000", "SET origin = 'ailleurs'").replace(
                f"SET {key} = {key} WHERE", "SET origin = 'ailleurs' WHERE"
            )
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert _dump(table) == before


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=120),
        st.lists(st.text(max_size=50), min_size=3, max_size=3).map("+".join),
        st.tuples(st.text(max_size=20), st.binary(max_size=40)).map(
            lambda t: t[0] + "+abcd1234+" + base64.b64encode(bytes([4]) + t[1]).decode()
        ),
    )
)
def test_any_vkey_text_is_read_or_refused_in_french(text):
    for parse in (verifier.parse_witness_key, verifier.parse_log_vkey):
        try:
            parse(text)
        except verifier.VerificationError as exc:
            message = str(exc)
        else:
            message = "clé lue"
        assert "clé" in message
