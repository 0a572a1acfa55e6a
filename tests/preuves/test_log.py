"""The transparency log in the database: appends, proofs from stored subtrees, signed and
timestamped checkpoints, the public endpoints and the proof bundle."""

import base64
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from preuves import keys, log, merkle, verifier
from preuves.models import Checkpoint, LogLeaf, LogNode, TimestampToken

ROOT = Path(__file__).resolve().parent.parent.parent


def fill(count: int, start: int = 0) -> list[dict]:
    items = [{"n": i, "texte": "pli déposé"} for i in range(start, start + count)]
    log.append_many("test", items)
    return items


def memory_copy() -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for data in LogLeaf.objects.order_by("index").values_list("data", flat=True):
        tree.append(bytes(data))
    return tree


def run_together(count: int, work) -> None:
    """`work(n)` in `count` threads, each with its own connection, released at the same
    moment by a barrier; any exception in a thread fails the test."""
    barrier = threading.Barrier(count)
    errors = []

    def thread_body(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=thread_body, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_appends_are_contiguous_and_match_the_reference(db):
    for i in range(5):
        assert log.append("test", {"n": i}).index == i
    fill(30, start=5)
    assert list(LogLeaf.objects.values_list("index", flat=True)) == list(range(35))
    head = log.current_head()
    tree = memory_copy()
    assert head.size == 35
    assert head.root_hash == tree.root
    # Each complete subtree stored once: 35 leaves, 17 + 8 + 4 + 2 + 1 inner nodes.
    assert LogNode.objects.count() == 35 + 17 + 8 + 4 + 2 + 1


def test_leaf_data_is_canonical_json_with_its_type(db):
    leaf = log.append("depot", {"b": 1, "a": "é"})
    assert bytes(leaf.data) == '{"a":"é","b":1,"type":"depot"}'.encode()
    assert bytes(leaf.leaf_hash) == verifier.leaf_hash(bytes(leaf.data))


def test_every_proof_from_the_database(db):
    fill(40)
    tree = memory_copy()
    roots = {size: merkle.root(size, tree.source) for size in range(41)}
    for size in range(1, 41):
        for index in range(size):
            proof = log.inclusion(index, size)
            assert proof["proof"] == [h.hex() for h in merkle.inclusion_proof(index, size, tree.source)]
            verifier.verify_inclusion(
                index,
                size,
                bytes.fromhex(proof["leaf_hash"]),
                [bytes.fromhex(h) for h in proof["proof"]],
                roots[size],
            )
        for first in range(1, size + 1):
            proof = log.consistency(first, size)["proof"]
            verifier.verify_consistency(
                first, size, roots[first], roots[size], [bytes.fromhex(h) for h in proof]
            )


def test_an_append_rolls_back_with_its_transaction(db):
    fill(3)

    def doomed():
        with transaction.atomic():
            log.append("test", {"n": "perdu"})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        doomed()
    assert log.current_head().size == 3
    assert log.append("test", {"n": 3}).index == 3


@pytest.mark.parametrize(("model", "change"), [(LogLeaf, {"kind": "x"}), (LogNode, {"hash": bytes(32)})])
def test_log_tables_refuse_update_and_delete(db, model, change):
    fill(2)
    with pytest.raises(DatabaseError, match="ajout seul"), transaction.atomic():
        model.objects.all().delete()
    with pytest.raises(DatabaseError, match="ajout seul"), transaction.atomic():
        model.objects.update(**change)


def test_checkpoint_and_token_tables_refuse_update_and_delete(db):
    fill(2)
    point = log.checkpoint()
    with pytest.raises(DatabaseError, match="ajout seul"), transaction.atomic():
        Checkpoint.objects.filter(pk=point.pk).update(note="falsifiée")
    # Raw SQL: Django's PROTECT would stop the ORM first; the trigger stops everyone.
    with (
        pytest.raises(DatabaseError, match="ajout seul"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM preuves_timestamptoken")
    assert TimestampToken.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_appends_get_distinct_indexes_without_gaps():
    """Eight writers in their own connections append at the same moment (a barrier releases
    them together): the head lock queues them; no index is shared or skipped."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent appends need PostgreSQL (set DATABASE_URL, Debian package postgresql)")
    writers, per_writer = 8, 15
    indexes = []

    def writer(n: int) -> None:
        for i in range(per_writer):
            with transaction.atomic():
                indexes.append(log.append("test", {"writer": n, "i": i}).index)

    run_together(writers, writer)
    total = writers * per_writer
    assert sorted(indexes) == list(range(total))
    assert list(LogLeaf.objects.values_list("index", flat=True)) == list(range(total))
    assert log.current_head().root_hash == memory_copy().root


# --- Checkpoints ------------------------------------------------------------------------


def test_checkpoint_is_a_signed_timestamped_note(db, settings):
    fill(7)
    point = log.checkpoint()
    assert point.size == 7
    assert point.note.startswith(f"{settings.PREUVES_LOG_ORIGIN}\n7\n")
    document = log.checkpoint_json(point)
    parsed = verifier.verify_checkpoint(document, keys.material().log_key.public_key())
    assert parsed.root == memory_copy().root
    info = verifier.verify_timestamp(
        bytes(point.timestamp.response),
        hashed_message=__import__("hashlib").sha256(point.note.encode()).digest(),
        ca_certs=[keys.material().ca_cert],
    )
    assert info.gen_time is not None


def test_checkpoints_are_coalesced(db):
    fill(3)
    first = log.checkpoint(covering=2)
    assert first.size == 3
    assert log.checkpoint(covering=3) == first  # already covered: no new signature, no new token
    fill(2, start=3)
    assert log.checkpoint(covering=3) == first
    assert log.checkpoint().size == 5
    assert Checkpoint.objects.count() == 2


def test_checkpoint_beyond_the_tree_is_refused(db):
    fill(1)
    with pytest.raises(log.ApplicationError, match="compte 1 feuille, 4 demandées"):
        log.checkpoint(covering=4)


def test_note_signed_by_another_key_fails(db):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    fill(2)
    document = log.checkpoint_json(log.checkpoint())
    with pytest.raises(verifier.VerificationError):
        verifier.verify_checkpoint(document, ed25519.Ed25519PrivateKey.generate().public_key())


# --- Public endpoints --------------------------------------------------------------------


def test_endpoints_need_no_login_and_give_json(db, client):
    fill(6)
    checkpoint = client.get("/preuves/log/checkpoint")
    assert checkpoint.status_code == 200
    assert checkpoint["Access-Control-Allow-Origin"] == "*"
    body = checkpoint.json()
    assert body["size"] == 6
    assert body["timestamp"]["tsr"]
    leaves = client.get("/preuves/log/leaves?start=2&end=4").json()
    assert [leaf["index"] for leaf in leaves["leaves"]] == [2, 3]
    assert leaves["leaves"][0]["json"] == {"n": 2, "texte": "pli déposé", "type": "test"}
    assert base64.b64decode(leaves["leaves"][0]["data"]) == bytes(LogLeaf.objects.get(index=2).data)
    inclusion = client.get("/preuves/log/inclusion?index=4&size=6").json()
    assert inclusion == log.inclusion(4, 6)
    consistency = client.get("/preuves/log/consistency?first=3&second=6").json()
    assert consistency == log.consistency(3, 6)
    key = client.get("/preuves/log/key.pem")
    assert key.content.decode() == keys.material().log_public_key_pem
    assert key["X-Key-Fingerprint-SHA256"] == keys.material().log_key_fingerprint
    assert client.get("/preuves/log/checkpoint?size=6").json() == body


def test_first_checkpoint_of_an_empty_log(db, client):
    body = client.get("/preuves/log/checkpoint").json()
    assert body["size"] == 0
    assert body["root_hash"] == merkle.EMPTY_ROOT.hex()


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        (
            "/preuves/log/inclusion?index=5&size=5",
            "log_index",
            "rang 5 hors de l'arbre : un arbre de taille 5 a les rangs 0 à 4",
        ),
        (
            "/preuves/log/inclusion?index=0&size=9",
            "log_size",
            "taille 9 supérieure à celle du journal de transparence (5 feuilles)",
        ),
        ("/preuves/log/inclusion?index=0&size=0", "log_index", "l'arbre de taille 0 est vide"),
        (
            "/preuves/log/inclusion?index=-1&size=3",
            "invalid",
            "« index » doit être un entier positif ou nul (au plus 9223372036854775807), pas « -1 »",
        ),
        ("/preuves/log/inclusion?index=abc&size=3", "invalid", "pas « abc »"),
        ("/preuves/log/inclusion?index=%C2%B2&size=3", "invalid", "pas « ² »"),
        ("/preuves/log/inclusion?index=%D9%A1&size=3", "invalid", "pas « ١ »"),
        (
            "/preuves/log/inclusion?index=99999999999999999999999&size=3",
            "invalid",
            "au plus 9223372036854775807",
        ),
        ("/preuves/log/inclusion?index=" + "9" * 5000 + "&size=3", "invalid", "doit être un entier positif"),
        ("/preuves/log/inclusion?index=&size=3", "missing_parameter", "paramètre « index » manquant"),
        ("/preuves/log/inclusion?size=3", "missing_parameter", "paramètre « index » manquant"),
        (
            "/preuves/log/consistency?first=4&second=2",
            "log_range",
            "first (4) doit être inférieur ou égal à second (2)",
        ),
        ("/preuves/log/consistency?first=0&second=2", "log_range", "first doit être au moins 1"),
        ("/preuves/log/consistency?first=2&second=8", "log_size", "taille 8 supérieure"),
        ("/preuves/log/leaves?start=3&end=1", "log_range", "start doit être ≤ end"),
        ("/preuves/log/leaves?start=0&end=6", "log_size", "taille 6 supérieure"),
        ("/preuves/log/checkpoint?size=x", "invalid", "« size » doit être un entier"),
    ],
)
def test_bad_requests_get_a_precise_french_error(db, client, url, code, message):
    fill(5)
    response = client.get(url)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert message in error["message"]


def test_unpublished_checkpoint_size_is_a_404(db, client):
    fill(5)
    response = client.get("/preuves/log/checkpoint?size=3")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "aucun point de contrôle publié pour la taille 3"


def test_leaf_range_is_capped(db, client, settings):
    settings.PREUVES_LOG_MAX_LEAVES = 3
    fill(5)
    response = client.get("/preuves/log/leaves?start=0&end=5")
    assert response.status_code == 400
    assert "au plus 3 feuilles par requête (5 demandées)" in response.json()["error"]["message"]


def test_endpoints_refuse_writes(db, client):
    for response in (
        client.post("/preuves/log/checkpoint"),
        client.delete("/preuves/log/leaves?start=0&end=1"),
    ):
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"


# --- Bundles, the standalone verifier, the export commands ---------------------------------


@pytest.fixture
def stamped_leaf(db):
    """A leaf that carries a token over its digest, as a deposit's does."""
    from preuves import timestamps

    fill(4)
    token = timestamps.timestamp_data(b"manifeste du pli", purpose="test")
    leaf = log.append("depot", {"consultation": 12, **log.leaf_digest_fields(token)})
    fill(3, start=10)
    return leaf, token


def run_verifier(*args, cwd):
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, str(ROOT / "preuves" / "verifier.py"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_bundle_passes_the_standalone_verifier(stamped_leaf, tmp_path):
    leaf, _ = stamped_leaf
    (tmp_path / "preuve.json").write_text(json.dumps(log.bundle(leaf.index)))
    (tmp_path / "cle.pem").write_text(keys.material().log_public_key_pem)
    (tmp_path / "ca.pem").write_text(keys.material().ca_pem)
    result = run_verifier("preuve.json", "--log-key", "cle.pem", "--tsa-ca", "ca.pem", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Preuve valide." in result.stdout


def test_forged_bundles_fail_the_standalone_verifier(stamped_leaf, tmp_path):
    leaf, _ = stamped_leaf
    bundle = log.bundle(leaf.index)
    data = json.loads(base64.b64decode(bundle["leaf"]["data"]))
    data["consultation"] = 13
    forged = {**bundle, "leaf": {**bundle["leaf"], "data": base64.b64encode(log.canonical(data)).decode()}}
    truncated = {**bundle, "inclusion": {**bundle["inclusion"], "proof": bundle["inclusion"]["proof"][:-1]}}
    for name, document in [("falsifiee.json", forged), ("tronquee.json", truncated)]:
        (tmp_path / name).write_text(json.dumps(document))
        result = run_verifier(name, cwd=tmp_path)
        assert result.returncode == 1, result.stdout
        assert "ÉCHEC" in result.stdout


def test_export_commands(stamped_leaf, tmp_path):
    leaf, token = stamped_leaf
    call_command("preuves", "export-bundle", str(leaf.index), "-o", str(tmp_path / "b.json"))
    bundle = json.loads((tmp_path / "b.json").read_text())
    assert bundle["leaf"]["index"] == leaf.index
    call_command("preuves", "export-token", str(token.pk), "-o", str(tmp_path / "t.tsr"))
    assert (tmp_path / "t.tsr").read_bytes() == bytes(token.response)
    call_command("preuves", "export-checkpoint", "-o", str(tmp_path / "old.json"))
    old_size = json.loads((tmp_path / "old.json").read_text())["size"]
    fill(5, start=100)
    call_command("preuves", "checkpoint")
    call_command("preuves", "export-checkpoint", "-o", str(tmp_path / "new.json"))
    new_size = json.loads((tmp_path / "new.json").read_text())["size"]
    call_command(
        "preuves", "export-consistency", str(old_size), str(new_size), "-o", str(tmp_path / "p.json")
    )
    (tmp_path / "cle.pem").write_text(keys.material().log_public_key_pem)
    result = run_verifier(
        "--consistency", "old.json", "new.json", "p.json", "--log-key", "cle.pem", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_export_errors_are_french(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="aucun jeton d'horodatage n° 999"):
        call_command("preuves", "export-token", "999")
    with pytest.raises(CommandError, match="aucune feuille de rang 3"):
        call_command("preuves", "export-bundle", "3")
    with pytest.raises(CommandError, match="first doit être au moins 1"):
        call_command("preuves", "export-consistency", "0", "1")


def test_endpoint_query_counts(db, client, django_assert_max_num_queries):
    fill(100)
    log.checkpoint()
    for url, queries in [
        ("/preuves/log/inclusion?index=37&size=100", 2),
        ("/preuves/log/consistency?first=37&second=100", 2),
        ("/preuves/log/checkpoint", 2),  # the checkpoint and its witnesses' cosignatures
        ("/preuves/log/leaves?start=0&end=100", 2),
    ]:
        with django_assert_max_num_queries(queries):
            assert client.get(url).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_parallel_checkpoints_are_coalesced_and_consistent():
    """Six deposits finalised at once, each asking for a checkpoint that covers it: each gets
    one, no size is signed twice, and every signed root is the tree's root at that size."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent checkpoints need PostgreSQL (set DATABASE_URL, Debian package postgresql)")
    writers = 6
    covered = []

    def writer(n: int) -> None:
        with transaction.atomic():
            index = log.append("test", {"writer": n}).index
        point = log.checkpoint(covering=index + 1)
        covered.append((index, point.size))

    run_together(writers, writer)
    assert all(size > index for index, size in covered)
    tree = memory_copy()
    points = list(Checkpoint.objects.all())
    assert len(points) <= writers
    assert len({p.size for p in points}) == len(points)
    for point in points:
        assert bytes(point.root_hash) == merkle.root(point.size, tree.source)
        verifier.verify_checkpoint(log.checkpoint_json(point), keys.material().log_key.public_key())


def test_checkpoint_attestation_is_a_sealed_pdf(db, tmp_path):
    from preuves import pdf

    fill(3)
    call_command("preuves", "attestation", "-o", str(tmp_path / "attestation.pdf"))
    document = (tmp_path / "attestation.pdf").read_bytes()
    [report] = pdf.validate(document)
    assert report.intact
    assert report.trusted
    assert report.timestamp_valid
    point = Checkpoint.objects.get()
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(tmp_path / "attestation.pdf"), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert bytes(point.root_hash).hex() in text.replace("\n", "")
        assert "Attestation du journal de transparence — taille 3" in text
