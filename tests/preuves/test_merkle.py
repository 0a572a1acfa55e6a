"""The Merkle arithmetic of the transparency log against RFC 6962/9162 reference vectors, a
naive reference written from the RFC's recursive definitions, and the verifier's checks."""

import hashlib
import json
import random
from pathlib import Path

import pytest

from preuves import merkle, verifier

VECTORS = json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "merkle" / "rfc6962-vectors.json").read_text()
)
LEAVES = [bytes.fromhex(leaf) for leaf in VECTORS["leaves_hex"]]


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = merkle.split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def tree_of(leaves: list[bytes]) -> merkle.MemoryTree:
    tree = merkle.MemoryTree()
    for leaf in leaves:
        tree.append(leaf)
    return tree


@pytest.mark.parametrize("size", range(9))
def test_reference_roots(size):
    tree = tree_of(LEAVES[:size])
    expected = bytes.fromhex(VECTORS["roots_by_size"][str(size)])
    assert tree.root == expected
    assert merkle.root(size, tree.source) == expected
    assert mth(LEAVES[:size]) == expected


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"{v['index']}-{v['size']}")
def test_reference_inclusion_proofs(vector):
    tree = tree_of(LEAVES)
    index, size = vector["index"], vector["size"]
    proof = merkle.inclusion_proof(index, size, tree.source)
    assert [h.hex() for h in proof] == vector["path"]
    root = bytes.fromhex(VECTORS["roots_by_size"][str(size)])
    verifier.verify_inclusion(index, size, verifier.leaf_hash(LEAVES[index]), proof, root)


@pytest.mark.parametrize("vector", VECTORS["consistency"], ids=lambda v: f"{v['first']}-{v['second']}")
def test_reference_consistency_proofs(vector):
    tree = tree_of(LEAVES)
    first, second = vector["first"], vector["second"]
    proof = merkle.consistency_proof(first, second, tree.source)
    assert [h.hex() for h in proof] == vector["proof"]
    roots = VECTORS["roots_by_size"]
    verifier.verify_consistency(
        first, second, bytes.fromhex(roots[str(first)]), bytes.fromhex(roots[str(second)]), proof
    )


def test_every_proof_of_a_random_tree_of_three_hundred_leaves():
    """All (index, size) inclusion proofs and all (first, second) consistency proofs of one
    random tree, each checked by the verifier against the naive root; a random one of each
    is also corrupted and must be refused."""
    rng = random.Random(9162)
    count = 300
    leaves = [rng.randbytes(rng.randrange(0, 40)) for _ in range(count)]
    tree = tree_of(leaves)
    roots = [mth(leaves[:size]) for size in range(count + 1)]
    hashes = [verifier.leaf_hash(leaf) for leaf in leaves]
    for size in range(1, count + 1):
        assert merkle.root(size, tree.source) == roots[size]
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, tree.source)
            verifier.verify_inclusion(index, size, hashes[index], proof, roots[size])
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(first, size, tree.source)
            verifier.verify_consistency(first, size, roots[first], roots[size], proof)
        index = rng.randrange(size)
        proof = merkle.inclusion_proof(index, size, tree.source)
        if proof:
            proof[rng.randrange(len(proof))] = rng.randbytes(32)
            with pytest.raises(verifier.VerificationError):
                verifier.verify_inclusion(index, size, hashes[index], proof, roots[size])
        first = rng.randrange(1, size + 1)
        proof = merkle.consistency_proof(first, size, tree.source)
        if proof:
            proof[rng.randrange(len(proof))] = rng.randbytes(32)
            with pytest.raises(verifier.VerificationError):
                verifier.verify_consistency(first, size, roots[first], roots[size], proof)


def test_rewritten_history_fails_consistency_against_an_older_checkpoint():
    """The operator rewrites leaf 3 and grows the log: no proof can link the old root to the
    new one, whatever the operator sends."""
    original = [f"dépôt {i}".encode() for i in range(10)]
    old_root = mth(original)
    rewritten = [
        *original[:3],
        "dépôt 3 antidaté".encode(),
        *original[4:],
        *[f"dépôt {i}".encode() for i in range(10, 16)],
    ]
    forged = tree_of(rewritten)
    proof = merkle.consistency_proof(10, 16, forged.source)
    with pytest.raises(verifier.VerificationError):
        verifier.verify_consistency(10, 16, old_root, forged.root, proof)
    # The honest log, grown from the same ten leaves, does link them.
    honest = tree_of([*original, *rewritten[10:]])
    verifier.verify_consistency(
        10, 16, old_root, honest.root, merkle.consistency_proof(10, 16, honest.source)
    )


def test_append_stores_each_complete_subtree_once():
    tree = tree_of([bytes([i]) for i in range(16)])
    levels = [k & 63 for k in tree.nodes]
    assert sorted(levels) == sorted([0] * 16 + [1] * 8 + [2] * 4 + [3] * 2 + [4])
    assert tree.nodes[merkle.key(4, 0)] == tree.root
