"""Receipts: a genuine one verifies offline; every kind of tampering is detected — an edited,
removed or reordered event, a forged tree head, and a history rewritten after a head was
published (even with every hash recomputed)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fakalab.contract.merkle import consistency_proof, inclusion_proof, root
from fakalab.contract.receipt import (
    ReceiptError,
    event_leaf,
    public_key_hex,
    sign_head,
    verify_receipt,
)

KEY = Ed25519PrivateKey.generate()
PUBLIC = public_key_hex(KEY)


def _events() -> list[dict[str, Any]]:
    """A log of three orders' events, interleaved as a busy shop writes them."""
    log = []
    for seq, state in enumerate(["pending_payment", "paid", "risk_check", "delivered"], 1):
        for order in ("A", "B", "C"):
            log.append({"order_no": order, "seq": seq, "at": 1000.0 + seq, "state": state,
                        "message": f"{state} message", "eta_at": None, "visible": True})
    return log


def _receipt(log: list[dict[str, Any]], order: str, key: Ed25519PrivateKey = KEY
             ) -> dict[str, Any]:
    leaves = [event_leaf(e) for e in log]
    head = sign_head(key, len(leaves), root(leaves), 2000.0)
    mine = [i for i, e in enumerate(log) if e["order_no"] == order]
    return {"version": 1, "events": [log[i] for i in mine],
            "proofs": [{"index": i, "path": [p.hex() for p in inclusion_proof(leaves, i)]}
                       for i in mine],
            "tree_head": head.as_dict()}


def test_a_genuine_receipt_verifies() -> None:
    proved = verify_receipt(_receipt(_events(), "B"), PUBLIC)
    assert proved == ["order B: 4 events, last delivered, in the log of 12 entries signed at "
                      "2000.0"]


def test_an_edited_event_is_detected() -> None:
    receipt = _receipt(_events(), "B")
    receipt["events"][3]["state"] = "refunded"
    with pytest.raises(ReceiptError, match="event 4 \\(refunded\\) is not in the log"):
        verify_receipt(receipt, PUBLIC)


def test_a_removed_event_is_detected() -> None:
    receipt = _receipt(_events(), "B")
    del receipt["events"][1], receipt["proofs"][1]
    with pytest.raises(ReceiptError, match="removed or reordered"):
        verify_receipt(receipt, PUBLIC)


def test_a_reordered_event_is_detected() -> None:
    receipt = _receipt(_events(), "B")
    receipt["events"][1], receipt["events"][2] = receipt["events"][2], receipt["events"][1]
    receipt["proofs"][1], receipt["proofs"][2] = receipt["proofs"][2], receipt["proofs"][1]
    with pytest.raises(ReceiptError, match="reordered"):
        verify_receipt(receipt, PUBLIC)


def test_a_forged_tree_head_is_detected() -> None:
    forged = _receipt(_events(), "B", key=Ed25519PrivateKey.generate())  # another key
    with pytest.raises(ReceiptError, match="not the shop's"):
        verify_receipt(forged, PUBLIC)
    edited = _receipt(_events(), "B")
    edited["tree_head"]["size"] = 13
    with pytest.raises(ReceiptError, match="not the shop's"):
        verify_receipt(edited, PUBLIC)


def test_a_history_rewritten_after_a_published_head_is_detected() -> None:
    """The shop published a head over the first 6 events, then rewrote event 4 (B: paid) and
    recomputed and re-signed everything: the new receipt verifies on its own, but not as an
    extension of the head the buyer saw earlier."""
    log = _events()
    first = [event_leaf(e) for e in log[:6]]
    earlier = sign_head(KEY, 6, root(first), 1500.0)
    rewritten = copy.deepcopy(log)
    rewritten[4]["state"] = "expired"
    receipt = _receipt(rewritten, "B")
    leaves = [event_leaf(e) for e in rewritten]
    assert verify_receipt(receipt, PUBLIC)  # alone, it looks fine
    with pytest.raises(ReceiptError, match="history was rewritten"):
        verify_receipt(receipt, PUBLIC, [(earlier, consistency_proof(leaves, 6))])
    honest = _receipt(log, "B")
    honest_leaves = [event_leaf(e) for e in log]
    assert verify_receipt(honest, PUBLIC, [(earlier, consistency_proof(honest_leaves, 6))])[-1] \
        == "it extends the log of 6 entries signed at 1500.0"
