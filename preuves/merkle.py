"""RFC 9162 Merkle tree arithmetic over stored complete subtrees.

Every proof of RFC 9162 §2.1 is a list of subtree hashes MTH(D[a:b]), where the ranges come
from the recursive split at the largest power of two. Any such range is a run of complete,
aligned subtrees of decreasing size, and its hash is their right fold. So the log stores
each complete subtree once, when it completes (an append writes on average two), and a
proof at a million leaves costs one query for a few dozen hashes, not a million hashes.

The functions here are pure: `node_source` is any callable mapping keys to hashes. The
hash definitions themselves come from the standalone verifier, the one definition of the
formats (preuves/verifier.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .verifier import EMPTY_ROOT, leaf_hash, node_hash

NodeSource = Callable[[Iterable[int]], dict[int, bytes]]
Range = tuple[int, int]

__all__ = ["EMPTY_ROOT", "leaf_hash", "node_hash"]


def key(level: int, position: int) -> int:
    """The stored subtree of 2**level leaves starting at leaf position * 2**level."""
    return (position << 6) | level


def split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1), as RFC 9162 splits."""
    return 1 << ((n - 1).bit_length() - 1)


def decompose(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees (level, position) covering [start, end), left to right. Valid
    for the ranges the RFC's recursion produces, whose starts are aligned."""
    parts = []
    while start < end:
        n = end - start
        size = n if n & (n - 1) == 0 else split(n)
        level = size.bit_length() - 1
        parts.append((level, start >> level))
        start += size
    return parts


def range_keys(ranges: Iterable[Range]) -> set[int]:
    return {key(level, position) for start, end in ranges for level, position in decompose(start, end)}


def range_hash(start: int, end: int, nodes: dict[int, bytes]) -> bytes:
    if start == end:
        return EMPTY_ROOT
    parts = [nodes[key(level, position)] for level, position in decompose(start, end)]
    digest = parts[-1]
    for part in reversed(parts[:-1]):
        digest = node_hash(part, digest)
    return digest


def inclusion_ranges(index: int, start: int, end: int) -> list[Range]:
    """RFC 9162 §2.1.3.1 PATH(m, D[start:end]), deepest sibling first."""
    path: list[Range] = []
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    path.reverse()
    return path


def consistency_ranges(first: int, start: int, end: int, *, complete: bool = True) -> list[Range]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b)."""
    n = end - start
    if first == n:
        return [] if complete else [(start, end)]
    k = split(n)
    if first <= k:
        return [*consistency_ranges(first, start, start + k, complete=complete), (start + k, end)]
    return [*consistency_ranges(first - k, start + k, end, complete=False), (start, start + k)]


def resolve(ranges: list[Range], node_source: NodeSource) -> list[bytes]:
    nodes = node_source(range_keys(ranges))
    return [range_hash(start, end, nodes) for start, end in ranges]


def root(size: int, node_source: NodeSource) -> bytes:
    return resolve([(0, size)], node_source)[0] if size else EMPTY_ROOT


def inclusion_proof(index: int, size: int, node_source: NodeSource) -> list[bytes]:
    return resolve(inclusion_ranges(index, 0, size), node_source)


def consistency_proof(first: int, second: int, node_source: NodeSource) -> list[bytes]:
    if first == second:
        return []
    return resolve(consistency_ranges(first, 0, second), node_source)


def append_nodes(
    size: int, frontier: list[bytes], leaf: bytes
) -> tuple[list[tuple[int, bytes]], list[bytes]]:
    """The subtrees completed by appending leaf hash `leaf` at index `size`, and the new
    frontier. `frontier` holds the hashes of decompose(0, size), largest first: the left
    siblings met while climbing, smallest first."""
    frontier = list(frontier)
    created = [(key(0, size), leaf)]
    digest, level, position = leaf, 0, size
    while position & 1:
        digest = node_hash(frontier.pop(), digest)
        level, position = level + 1, position >> 1
        created.append((key(level, position), digest))
    frontier.append(digest)
    return created, frontier


def fold(frontier: list[bytes]) -> bytes:
    """The root of a tree from its frontier (its complete subtrees, largest first)."""
    if not frontier:
        return EMPTY_ROOT
    digest = frontier[-1]
    for part in reversed(frontier[:-1]):
        digest = node_hash(part, digest)
    return digest


class MemoryTree:
    """A whole tree in memory: the reference in tests and the builder in benchmarks."""

    def __init__(self) -> None:
        self.nodes: dict[int, bytes] = {}
        self.frontier: list[bytes] = []
        self.size = 0

    def append(self, data: bytes) -> int:
        created, self.frontier = append_nodes(self.size, self.frontier, leaf_hash(data))
        self.nodes.update(created)
        self.size += 1
        return self.size - 1

    def source(self, keys: Iterable[int]) -> dict[int, bytes]:
        return {k: self.nodes[k] for k in keys}

    @property
    def root(self) -> bytes:
        return fold(self.frontier)
