"""An append-only Merkle log in the shape of Certificate Transparency (RFC 9162, section 2.1):
the tree hash of a list of entries, inclusion proofs and consistency proofs, and their checks
(pure; SHA-256).

    leaf hash  = SHA-256(0x00 || entry)
    node hash  = SHA-256(0x01 || left || right)

An inclusion proof shows that an entry is the `index`-th of a tree of `size` entries with a given
root. A consistency proof shows that the tree of `new_size` entries extends the tree of
`old_size` entries: a history rewritten after a root was published cannot produce one, even when
every hash inside it was recomputed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["MerkleLog", "consistency_proof", "inclusion_proof", "leaf_hash", "root",
           "verify_consistency", "verify_inclusion"]


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(_mth(leaves[:k]), _mth(leaves[k:]))


def root(leaves: Sequence[bytes]) -> bytes:
    """The tree hash of the leaf hashes `leaves`."""
    return _mth(leaves)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `leaves` (RFC 9162 PATH)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of a tree of {len(leaves)}")
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), _mth(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), _mth(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first `old_size` leaves are a prefix of `leaves` (RFC 9162 PROOF)."""
    if not 0 < old_size <= len(leaves):
        raise ValueError(f"no consistency proof from {old_size} to {len(leaves)} leaves")
    return _subproof(old_size, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     expected_root: bytes) -> bool:
    """Whether `proof` shows leaf hash `leaf` at `index` of the tree of `size` with that root
    (RFC 9162, 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """Whether `proof` shows the tree of `new_size` extending the tree of `old_size`
    (RFC 9162, 2.1.4.2)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class MerkleLog:
    """The same tree kept incrementally, for a log that only grows: every complete subtree's
    hash is stored once, so a root or a proof for any earlier size costs O(log² n) hashes
    instead of the O(n) of the functions above (which define the result; a test compares them).
    """

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]  # _levels[h][i]: leaves [i·2^h, (i+1)·2^h)
        for leaf in leaves:
            self.append(leaf)

    def __len__(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        level, h = self._levels[0], 0
        level.append(leaf)
        while len(level) % 2 == 0:
            if h + 1 == len(self._levels):
                self._levels.append([])
            up = self._levels[h + 1]
            up.append(_node(level[-2], level[-1]))
            level, h = up, h + 1

    def truncate(self, size: int) -> None:
        """Forget every leaf from `size` on (an append that was not stored)."""
        self._levels = [level[: size >> h] for h, level in enumerate(self._levels)]

    def root(self, size: int | None = None) -> bytes:
        return self._mth(0, self._size(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = self._size(size)
        if not 0 <= index < n:
            raise IndexError(f"leaf {index} of a tree of {n}")
        return self._path(index, 0, n)

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        n = self._size(size)
        if not 0 < old_size <= n:
            raise ValueError(f"no consistency proof from {old_size} to {n} leaves")
        return self._subproof(old_size, 0, n, True)

    def _size(self, size: int | None) -> int:
        if size is None:
            return len(self)
        if not 0 <= size <= len(self):
            raise ValueError(f"the log has {len(self)} leaves, not {size}")
        return size

    def _mth(self, start: int, n: int) -> bytes:
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n & (n - 1) == 0 and start % n == 0:
            h = n.bit_length() - 1
            return self._levels[h][start >> h]
        k = _split(n)
        return _node(self._mth(start, k), self._mth(start + k, n - k))

    def _path(self, m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, k), self._mth(start + k, n - k)]
        return [*self._path(m - k, start + k, n - k), self._mth(start, k)]

    def _subproof(self, m: int, start: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [self._mth(start, n)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, k, complete), self._mth(start + k, n - k)]
        return [*self._subproof(m - k, start + k, n - k, False), self._mth(start, k)]
