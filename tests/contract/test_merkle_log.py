"""The incremental Merkle log gives exactly the roots and proofs of the reference functions in
``merkle.py``, for every size up to 40 — and after a truncation."""

from __future__ import annotations

import pytest

from fakalab.contract.merkle import (
    MerkleLog,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
)

LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(40)]
LOG = MerkleLog(LEAVES)


@pytest.mark.parametrize("size", range(0, 41))
def test_roots_and_proofs_match_the_definition(size: int) -> None:
    leaves = LEAVES[:size]
    assert LOG.root(size) == root(leaves)
    for index in range(size):
        assert LOG.inclusion_proof(index, size) == inclusion_proof(leaves, index)
    for old in range(1, size + 1):
        assert LOG.consistency_proof(old, size) == consistency_proof(leaves, old)


def test_a_truncated_log_is_the_shorter_log() -> None:
    log = MerkleLog(LEAVES[:29])
    log.truncate(13)
    assert len(log) == 13 and log.root() == root(LEAVES[:13])
    for leaf in LEAVES[13:21]:
        log.append(leaf)
    assert log.root() == root(LEAVES[:21])
    assert log.inclusion_proof(20) == inclusion_proof(LEAVES[:21], 20)


def test_sizes_out_of_range_are_refused() -> None:
    log = MerkleLog(LEAVES[:5])
    with pytest.raises(ValueError, match="has 5 leaves"):
        log.root(6)
    with pytest.raises(IndexError):
        log.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        log.consistency_proof(0, 5)
