"""The Merkle log (RFC 9162): every proof of trees up to 33 leaves verifies, and every kind of
tampering is caught."""

from __future__ import annotations

import hashlib

import pytest

from fakalab.contract.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(33)]


def test_a_known_root() -> None:
    # RFC 9162's hashing, written out for three leaves: ((l0, l1), l2)
    def node(a: bytes, b: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + a + b).digest()

    assert root(LEAVES[:3]) == node(node(LEAVES[0], LEAVES[1]), LEAVES[2])
    assert root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 34))
def test_every_inclusion_proof_verifies_and_nothing_else_does(size: int) -> None:
    leaves, head = LEAVES[:size], root(LEAVES[:size])
    for index in range(size):
        proof = inclusion_proof(leaves, index)
        assert verify_inclusion(leaves[index], index, size, proof, head)
        assert not verify_inclusion(leaf_hash(b"edited"), index, size, proof, head)
        if size > 1:
            other = (index + 1) % size
            assert not verify_inclusion(leaves[index], other, size, proof, head)
            assert not verify_inclusion(leaves[index], index, size, proof, root(leaves[:-1])
                                        if size > 2 else leaf_hash(b"x"))
        if proof:
            broken = [leaf_hash(b"x"), *proof[1:]]
            assert not verify_inclusion(leaves[index], index, size, broken, head)
            assert not verify_inclusion(leaves[index], index, size, proof[:-1], head)


@pytest.mark.parametrize("new", range(1, 34))
def test_every_consistency_proof_verifies(new: int) -> None:
    for old in range(1, new + 1):
        proof = consistency_proof(LEAVES[:new], old)
        assert verify_consistency(old, new, root(LEAVES[:old]), root(LEAVES[:new]), proof)


def test_a_rewritten_history_has_no_consistency_proof() -> None:
    """The shop rewrites event 3 and recomputes every hash: the new tree is internally
    consistent, but it does not extend the root it published before."""
    published = root(LEAVES[:8])
    rewritten = [*LEAVES[:3], leaf_hash(b"event 3, edited"), *LEAVES[4:20]]
    for old in range(1, 9):
        proof = consistency_proof(rewritten, old)
        assert verify_consistency(old, 20, root(rewritten[:old]), root(rewritten), proof)
    assert not verify_consistency(8, 20, published, root(rewritten),
                                  consistency_proof(rewritten, 8))
    assert not verify_consistency(5, 20, root(LEAVES[:5]), root(rewritten),
                                  consistency_proof(rewritten, 5))


def test_reordered_or_removed_entries_change_the_root() -> None:
    swapped = [LEAVES[1], LEAVES[0], *LEAVES[2:10]]
    assert root(swapped) != root(LEAVES[:10])
    assert root([*LEAVES[:4], *LEAVES[5:10]]) != root(LEAVES[:10])
    assert not verify_consistency(10, 10, root(LEAVES[:10]), root(swapped), [])
