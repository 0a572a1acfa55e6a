"""The standalone verifier on deposit leaves, which publish only a commitment: the byte format
of the commitment and the tag, bundles that carry the opening, the fact named when an opening
is wrong, and the comparison of the deposits listed for a consultation with the log's. No
database: the leaves are made here with the verifier's own format functions, the tokens by
`openssl ts -reply`."""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from preuves import verifier

from .test_verifier import CHECKS as PLAIN_CHECKS
from .test_verifier import (  # noqa: F401 (pki and proof are fixtures)
    Proof,
    Tree,
    b64,
    canonical,
    pki,
    proof,
    public_pem,
    run_script,
    sign_checkpoint,
)

NONCE = bytes(range(32))
KEY = b"cle de la consultation 42 ......"
OTHER_KEY = b"cle de la consultation 43 ......"
DEPOSIT_ID = "0b6f4c1e-3a5d-4e8f-9a7b-2c1d0e9f8a7b"
RECEIVED_AT = "2026-12-04T17:59:59.999+00:00"


def manifest(**changes) -> bytes:
    """A manifest (bordereau) as offres writes it, reduced to what the facts read."""
    document = {
        "format": "marches-ouverts/bordereau/1",
        "deposit": DEPOSIT_ID,
        "company": {"name": "Durand Bâtiment", "identifier": "12345678900011"},
        "consultation": {"id": 42, "reference": "2026-042", "title": "Toiture"},
        "lots": [1, 3],
        "received_at": RECEIVED_AT,
        "late": False,
        "files": [{"envelope": "offer", "name": "offre.pdf.age", "size": 1234, "sha256": "ab" * 32}],
    }
    document.update(changes)
    return canonical(document)


def facts_of(data: bytes, tsr: bytes, **changes) -> dict:
    document = json.loads(data)
    return {
        "consultation": document["consultation"]["id"],
        "deposit": document["deposit"],
        "company": document["company"]["identifier"],
        "lots": document["lots"],
        "received_at": document["received_at"],
        "late": document["late"],
        "digest": hashlib.sha256(data).hexdigest(),
        "timestamp_sha256": hashlib.sha256(tsr).hexdigest(),
        **changes,
    }


# --- The byte format ----------------------------------------------------------------------------

VECTOR_FACTS = {
    "consultation": 42,
    "deposit": DEPOSIT_ID,
    "company": "12345678900011",
    "lots": [1, 3],
    "received_at": RECEIVED_AT,
    "late": False,
    "digest": "11" * 32,
    "timestamp_sha256": "22" * 32,
}
VECTOR_JSON = (
    b'{"company":"12345678900011","consultation":42,"deposit":"0b6f4c1e-3a5d-4e8f-9a7b-2c1d0e9f8a7b",'
    b'"digest":"' + b"11" * 32 + b'","late":false,"lots":[1,3],"received_at":"2026-12-04T17:59:59.999+00:00",'
    b'"timestamp_sha256":"' + b"22" * 32 + b'"}'
)
VECTOR_COMMITMENT = "65b5af0ff5e46da0a697ab554a1ddc54d0510fb1f9d0bd52a7370ce6a141c64d"


def test_the_commitment_and_the_tag_are_the_documented_bytes():
    """docs/verifier.md: SHA-256(format ‖ 0x0A ‖ nonce ‖ canonical JSON of the facts), and an
    HMAC-SHA-256 under the consultation's key of (tag format ‖ 0x0A ‖ commitment)."""
    expected = hashlib.sha256(b"marches-ouverts/engagement-depot/1\n" + NONCE + VECTOR_JSON).digest()
    assert verifier.canonical_json(VECTOR_FACTS) == VECTOR_JSON
    commitment = verifier.deposit_commitment(VECTOR_FACTS, NONCE)
    assert commitment == expected
    assert commitment.hex() == VECTOR_COMMITMENT
    tag = hmac.new(KEY, b"marches-ouverts/etiquette-depot/1\n" + commitment, hashlib.sha256).digest()
    assert verifier.deposit_tag(KEY, commitment) == tag
    leaf = verifier.deposit_leaf(VECTOR_FACTS, NONCE, KEY)
    assert leaf == {
        "format": "marches-ouverts/engagement-depot/1",
        "commitment": expected.hex(),
        "tag": tag.hex(),
        "time": "2026-12-04T17:59Z",
    }
    # Another nonce, another commitment and tag: nothing stable from one deposit to the next.
    other = verifier.deposit_leaf(VECTOR_FACTS, bytes(32), KEY)
    assert other["commitment"] != leaf["commitment"]
    assert other["tag"] != leaf["tag"]
    assert verifier.deposit_opening(VECTOR_FACTS, NONCE) == {
        "format": "marches-ouverts/engagement-depot/1",
        "facts": VECTOR_FACTS,
        "nonce": NONCE.hex(),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"consultation": "42"}, "fait « consultation » mal formé"),
        ({"consultation": True}, "fait « consultation » mal formé"),
        ({"deposit": DEPOSIT_ID.upper()}, "fait « deposit » mal formé"),
        ({"company": " "}, "fait « company » mal formé"),
        ({"lots": [3, 1]}, "fait « lots » mal formé : les numéros des lots"),
        ({"lots": ["1"]}, "fait « lots » mal formé"),
        ({"received_at": "2026-12-04T18:59:59.999+01:00"}, "fait « received_at » mal formé"),
        ({"late": 0}, "fait « late » mal formé"),
        ({"digest": "AB" * 32}, "fait « digest » mal formé"),
        ({"timestamp_sha256": "ab"}, "fait « timestamp_sha256 » mal formé"),
        ({"size": 1234}, "fait « size » inconnu"),
    ],
)
def test_facts_have_one_spelling(change, message):
    with pytest.raises(verifier.VerificationError, match=re.escape(message)):
        verifier.deposit_commitment({**VECTOR_FACTS, **change}, NONCE)
    missing = dict(VECTOR_FACTS)
    del missing["late"]
    with pytest.raises(verifier.VerificationError, match="fait « late » absent"):
        verifier.deposit_commitment(missing, NONCE)
    with pytest.raises(verifier.VerificationError, match="l'aléa fait 31 octets, 32 attendus"):
        verifier.deposit_commitment(VECTOR_FACTS, NONCE[:31])


# --- Bundles of deposit leaves --------------------------------------------------------------------


class Committed:
    def __init__(self, made: Proof, data: bytes, tsr: bytes, facts: dict, *, time: str | None = None):
        self.data = data
        leaf = {"type": "deposit", **verifier.deposit_leaf(facts, NONCE, KEY)}
        if time:
            leaf["time"] = time
        self.bundle = made.build(leaf, tsr)
        self.bundle["commitment_opening"] = verifier.deposit_opening(facts, NONCE)


@pytest.fixture(scope="session")
def committed(proof, pki):  # noqa: F811
    data = manifest()
    tsr = pki.stamp(data)
    return Committed(proof, data, tsr, facts_of(data, tsr))


@pytest.fixture
def bundle(committed):
    return copy.deepcopy(committed.bundle)


# The checks of a plain bundle (test_verifier.CHECKS), with the commitment's opening after the
# checkpoint's signature.
_OPENING_AFTER = PLAIN_CHECKS.index("Signature du point de contrôle") + 1
CHECKS = [*PLAIN_CHECKS[:_OPENING_AFTER], "Ouverture de l'engagement", *PLAIN_CHECKS[_OPENING_AFTER:]]


def pinned(proof) -> dict:  # noqa: F811
    return {"log_key": proof.key.public_key(), "tsa_ca": [proof.pki.root]}


def test_a_deposit_bundle_opens_its_commitment(proof, committed, bundle):  # noqa: F811
    report = verifier.verify_bundle(bundle, **pinned(proof))
    assert report.ok, report.first_failure
    assert [check.name for check in report.checks] == CHECKS
    assert report.facts["deposit"] == DEPOSIT_ID
    assert report.facts["consultation"] == 42
    assert report.facts["late"] == "non"
    with_data = verifier.verify_bundle(bundle, data=committed.data, **pinned(proof))
    assert with_data.ok, with_data.first_failure
    assert [check.name for check in with_data.checks] == [*CHECKS, "Fichier fourni", "Faits du bordereau"]
    # The token is bound through the opening: another token of the same authority is refused.
    bundle["timestamp"]["tsr"] = b64(proof.pki.stamp(b"un autre bordereau"))
    other = verifier.verify_bundle(bundle, **pinned(proof))
    assert other.first_failure.name == "Jeton lié à la feuille"
    assert "l'ouverture de l'engagement désigne le jeton" in other.first_failure.message


def test_without_its_opening_a_deposit_leaf_proves_nothing(proof, bundle):  # noqa: F811
    del bundle["commitment_opening"]
    report = verifier.verify_bundle(bundle, **pinned(proof))
    failure = report.first_failure
    assert failure.name == "Ouverture de l'engagement"
    assert "« commitment_opening » absent" in failure.message
    not_done = [check.name for check in report.checks if not check.done]
    assert not_done == ["Jeton lié à la feuille", "Horodatage de la feuille"]


WRONG_FACTS = {
    "consultation": 43,
    "deposit": "0b6f4c1e-3a5d-4e8f-9a7b-2c1d0e9f8a7c",
    "company": "99999999900011",
    "lots": [1],
    "received_at": "2026-12-04T17:59:58.999+00:00",
    "late": True,
    "digest": "00" * 32,
    "timestamp_sha256": "00" * 32,
}


@pytest.mark.parametrize("name", WRONG_FACTS)
def test_a_wrong_fact_is_named(proof, committed, bundle, name):  # noqa: F811
    bundle["commitment_opening"]["facts"][name] = WRONG_FACTS[name]
    report = verifier.verify_bundle(bundle, data=committed.data, **pinned(proof))
    failure = report.first_failure
    assert failure.name == "Ouverture de l'engagement"
    assert failure.message.endswith(
        f"fait faux dans l'ouverture, d'après le bordereau fourni ou le jeton du lot : « {name} »"
    )
    # Without the manifest, only the token's digest can be told apart.
    alone = verifier.verify_bundle(bundle, **pinned(proof)).first_failure
    assert alone.name == "Ouverture de l'engagement"
    if name == "timestamp_sha256":
        assert alone.message.endswith("d'après le jeton du lot : « timestamp_sha256 »")
    else:
        assert "joignez le bordereau pour savoir lequel" in alone.message


def test_a_wrong_nonce_is_named(proof, committed, bundle):  # noqa: F811
    bundle["commitment_opening"]["nonce"] = "00" * 32
    failure = verifier.verify_bundle(bundle, data=committed.data, **pinned(proof)).first_failure
    assert failure.name == "Ouverture de l'engagement"
    assert failure.message.endswith("c'est l'aléa qui diffère")


def test_facts_committed_against_the_manifest_are_refused(proof, pki):  # noqa: F811
    """A platform that committed « dans le délai » for a deposit its own timestamped manifest
    says late: the commitment opens, the manifest gives it away."""
    data = manifest(late=True)
    tsr = pki.stamp(data)
    lying = Committed(proof, data, tsr, facts_of(data, tsr, late=False))
    assert verifier.verify_bundle(lying.bundle, **pinned(proof)).ok
    failure = verifier.verify_bundle(lying.bundle, data=data, **pinned(proof)).first_failure
    assert failure.name == "Faits du bordereau"
    assert failure.message == "l'ouverture et le bordereau fourni diffèrent sur : « late »"


def test_the_leaf_shows_the_minute_of_reception(proof, committed, pki):  # noqa: F811
    data = committed.data
    tsr = base64.b64decode(committed.bundle["timestamp"]["tsr"])
    moved = Committed(proof, data, tsr, facts_of(data, tsr), time="2026-12-04T18:00Z")
    failure = verifier.verify_bundle(moved.bundle, **pinned(proof)).first_failure
    assert failure.name == "Ouverture de l'engagement"
    assert "n'est pas dans la minute que publie la feuille (2026-12-04T18:00Z)" in failure.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.update(format="autre/1"), "ouverture au format « autre/1 » inconnu"),
        (lambda o: o.update(nonce="00" * 31), "fait 31 octets, 32 attendus"),
        (lambda o: o.update(nonce="ZZ" * 32), "n'est pas une empreinte hexadécimale"),
        (lambda o: o.pop("facts"), "champ « commitment_opening.facts » absent"),
        (lambda o: o["facts"].update(lots="1,3"), "fait « lots » mal formé"),
    ],
)
def test_malformed_openings(proof, bundle, change, message):  # noqa: F811
    change(bundle["commitment_opening"])
    failure = verifier.verify_bundle(bundle, **pinned(proof)).first_failure
    assert failure.name == "Ouverture de l'engagement"
    assert message in failure.message


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield (*prefix, position)
            yield from _paths(item, (*prefix, position))


def test_any_malformed_opening_gives_a_failed_report(proof, committed):  # noqa: F811
    opening = committed.bundle["commitment_opening"]
    for path in list(_paths(opening)):
        for replacement in (None, 0, -1, True, 1.5, "", "x", [], {}, "delete"):
            changed = copy.deepcopy(committed.bundle)
            parent = functools.reduce(lambda node, key: node[key], path[:-1], changed["commitment_opening"])
            if replacement == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
            report = verifier.verify_bundle(changed, data=committed.data)
            assert not report.ok, (path, replacement)
            assert all(isinstance(check.message, str) and check.message for check in report.checks)


def test_cli_checks_a_deposit_bundle(tmp_path, proof, committed):  # noqa: F811
    (tmp_path / "preuve.json").write_text(json.dumps(committed.bundle))
    (tmp_path / "bordereau.json").write_bytes(committed.data)
    (tmp_path / "key.pem").write_text(public_pem(proof.key))
    (tmp_path / "ca.pem").write_bytes(proof.pki.root.public_bytes(verifier.serialization.Encoding.PEM))
    args = ["preuve.json", "--log-key", "key.pem", "--tsa-ca", "ca.pem", "--data", "bordereau.json"]
    done = run_script(tmp_path, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK     Ouverture de l'engagement : les faits et l'aléa de l'accusé de réception" in done.stdout
    assert "OK     Faits du bordereau" in done.stdout
    assert f"Identifiant du pli : {DEPOSIT_ID}" in done.stdout
    bad = copy.deepcopy(committed.bundle)
    bad["commitment_opening"]["facts"]["late"] = True
    (tmp_path / "preuve.json").write_text(json.dumps(bad))
    done = run_script(tmp_path, *args)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("Preuve invalide : Ouverture de l'engagement : ")
    assert done.stdout.splitlines()[-1].endswith("« late »")


# --- After the opening: the deposits listed for a consultation against the log's -----------------


def deposit_facts(consultation: int, n: int, *, late: bool = False) -> dict:
    return {
        **VECTOR_FACTS,
        "consultation": consultation,
        "deposit": f"0b6f4c1e-3a5d-4e8f-9a7b-{n:012d}",
        "late": late,
    }


@pytest.fixture
def log():
    """A log of journal anchors and deposits for consultations 42 (three, one late) and 43
    (two), interleaved; and the listing the minutes of 42 give."""
    entries, listed = [], []
    plan = [(42, False), (43, False), (42, False), (43, False), (42, True)]
    for n, (consultation, late) in enumerate(plan):
        entries.append({"type": "journal.head", "seq": n, "hash": "33" * 32})
        facts = deposit_facts(consultation, n, late=late)
        nonce = bytes([n]) * 32
        entries.append(
            {
                "type": "deposit",
                **verifier.deposit_leaf(facts, nonce, KEY if consultation == 42 else OTHER_KEY),
            }
        )
        if consultation == 42:
            listed.append({"log_index": len(entries) - 1, "opening": verifier.deposit_opening(facts, nonce)})
    leaves = [
        {
            "index": i,
            "leaf_hash": verifier.leaf_hash(canonical(e)).hex(),
            "data": b64(canonical(e)),
            "json": e,
        }
        for i, e in enumerate(entries)
    ]
    return leaves, listed


def check_set(leaves, listed, *, consultation=42, key=KEY):
    return verifier.verify_deposit_set(consultation=consultation, tag_key=key, listed=listed, leaves=leaves)


def test_the_listed_deposits_are_those_of_the_log(log):
    leaves, listed = log
    report = check_set(leaves, listed)
    assert report.ok, report.first_failure
    assert [check.name for check in report.checks] == ["Feuilles du journal", "Plis listés", "Même ensemble"]
    assert report.facts == {"deposits_logged": 3, "deposits_listed": 3}
    assert report.checks[0].message == (
        "10 feuilles lues, dont 5 feuilles de pli ; la clé de la consultation n°42 en désigne 3"
    )


def _tamper_leaf(leaves, index):
    content = json.loads(base64.b64decode(leaves[index]["data"]))
    content["commitment"] = "44" * 32
    leaves[index]["data"] = b64(canonical(content))


SET_CASES = {
    "a deposit left out": (
        lambda leaves, listed: listed.pop(1),
        "Même ensemble",
        "1 feuille de pli de cette consultation manque à la liste : n°5",
    ),
    "two left out": (
        lambda leaves, listed: [listed.pop(0), listed.pop(0)],
        "Même ensemble",
        "manquent à la liste : n°1, n°5",
    ),
    "listed twice": (lambda leaves, listed: listed.append(listed[0]), "Plis listés", "listée deux fois"),
    "one deposit at two indexes": (
        lambda leaves, listed: listed.append({**listed[0], "log_index": 3}),
        "Plis listés",
        "listé deux fois",
    ),
    "another consultation's": (
        lambda leaves, listed: listed.append(
            {"log_index": 3, "opening": verifier.deposit_opening(deposit_facts(43, 1), bytes([1]) * 32)}
        ),
        "Plis listés",
        "déposé pour la consultation n°43, pas la n°42",
    ),
    "an index that is no deposit of it": (
        lambda leaves, listed: listed[0].update(log_index=0),
        "Plis listés",
        "listé à la feuille n°0, qui n'est pas une feuille de pli de cette consultation",
    ),
    "a fact changed": (
        lambda leaves, listed: listed[2]["opening"]["facts"].update(late=False),
        "Plis listés",
        "ne redonne pas l'engagement de la feuille n°9",
    ),
    "a leaf changed": (
        lambda leaves, listed: _tamper_leaf(leaves, 1),
        "Feuilles du journal",
        "n°1 n'a pas l'empreinte",
    ),
    "a leaf given twice": (
        lambda leaves, listed: leaves.append(leaves[0]),
        "Feuilles du journal",
        "n°0 est donnée deux fois",
    ),
    "not a list": (lambda leaves, listed: listed.clear() or listed.append("x"), "Plis listés", "plis[0]"),
}


@pytest.mark.parametrize("case", SET_CASES)
def test_a_listing_that_is_not_the_log_is_refused(log, case):
    leaves, listed = copy.deepcopy(log)
    change, name, message = SET_CASES[case]
    change(leaves, listed)
    report = check_set(leaves, listed)
    failure = report.first_failure
    assert failure is not None
    assert failure.name == name, failure
    assert message in failure.message


def test_another_key_finds_another_consultation(log):
    leaves, listed = log
    assert not check_set(leaves, listed, key=OTHER_KEY).ok
    report = check_set(leaves, [], consultation=43, key=OTHER_KEY)
    assert report.first_failure.name == "Même ensemble"
    assert (
        "2 feuilles de pli de cette consultation manquent à la liste : n°3, n°7"
        in report.first_failure.message
    )
    for nonsense in (None, "x", [1], [{"index": "1"}]):
        assert not verifier.verify_deposit_set(
            consultation=42, tag_key=KEY, listed=listed, leaves=nonsense
        ).ok
        assert not verifier.verify_deposit_set(
            consultation=42, tag_key=KEY, listed=nonsense, leaves=leaves
        ).ok


LOG_KEY = ed25519.Ed25519PrivateKey.generate()


def signed(leaves: list[dict], key=LOG_KEY) -> dict:
    tree = Tree([base64.b64decode(leaf["data"]) for leaf in leaves])
    return sign_checkpoint(tree, len(leaves), key)


def test_the_leaves_can_be_required_to_be_the_whole_signed_tree(log):
    leaves, listed = log
    point = signed(leaves)
    report = verifier.verify_deposit_set(
        consultation=42,
        tag_key=KEY,
        listed=listed,
        leaves=leaves,
        checkpoint=point,
        log_key=LOG_KEY.public_key(),
    )
    assert report.ok, report.first_failure
    assert report.checks[0].name == "Arbre complet"
    assert report.facts["tree_size"] == 10

    def failure(leaves_given, point_given=point, key=LOG_KEY):
        return verifier.verify_deposit_set(
            consultation=42,
            tag_key=KEY,
            listed=listed,
            leaves=leaves_given,
            checkpoint=point_given,
            log_key=key.public_key(),
        ).first_failure

    # A deposit leaf held back from the leaves given (and from the minutes): the tree is not whole.
    held_back = failure([leaf for leaf in leaves if leaf["index"] != 9])
    assert held_back.name == "Arbre complet"
    assert "il faut les feuilles 0 à 9, toutes, et elles seules (9 feuilles données)" in held_back.message
    # A leaf rewritten, its announced hash with it: the root gives it away.
    rewritten = copy.deepcopy(leaves)
    content = json.loads(base64.b64decode(rewritten[5]["data"]))
    content["commitment"] = "44" * 32
    rewritten[5]["data"] = b64(canonical(content))
    rewritten[5]["leaf_hash"] = verifier.leaf_hash(canonical(content)).hex()
    assert "le point de contrôle signe" in failure(rewritten).message
    # Signed by another key.
    assert failure(leaves, signed(leaves, OTHER_LOG_KEY), LOG_KEY).name == "Arbre complet"
    other = verifier.verify_deposit_set(
        consultation=42, tag_key=KEY, listed=listed, leaves=leaves, checkpoint=point
    )
    assert other.first_failure.message == "le point de contrôle et la clé du journal vont ensemble"


OTHER_LOG_KEY = ed25519.Ed25519PrivateKey.generate()
