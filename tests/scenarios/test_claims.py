"""A buyer's claim of non-delivery settled by the receipt (pure): a verified `delivered`
settles it against the buyer, a verified receipt without one for the buyer, and a forged,
edited or missing receipt leaves it open."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from fakalab.contract.disputes import ClaimRates
from fakalab.contract.merkle import inclusion_proof, root
from fakalab.contract.receipt import event_leaf, public_key_hex, sign_head
from fakalab.scenarios.locust.claims import UNSETTLED_KEY, claim_kind, settle

KEY = Ed25519PrivateKey.generate()
PUBLIC = public_key_hex(KEY)


def _receipt(states: list[str], key: Ed25519PrivateKey = KEY,
             pending: list[dict[str, Any]] | None = None) -> str:
    log = [{"order_no": "X", "seq": seq, "at": 1000.0 + seq, "state": state, "message": state,
            "eta_at": None, "visible": True} for seq, state in enumerate(states, 1)]
    leaves = [event_leaf(e) for e in log]
    head = sign_head(key, len(leaves), root(leaves), 2000.0)
    return json.dumps({
        "version": 1, "order_no": "X", "public_key": public_key_hex(key),
        "tree_head": head.as_dict(), "events": log,
        "proofs": [{"index": i, "path": [p.hex() for p in inclusion_proof(leaves, i)]}
                   for i in range(len(log))],
        "pending": pending or [], "consistency": []})


DELIVERED = ["pending_payment", "paid", "risk_check", "allocating", "delivered"]
STUCK = ["pending_payment", "paid", "risk_check"]


def test_a_verified_delivered_milestone_settles_the_claim_against_the_buyer() -> None:
    found = settle(200, _receipt(DELIVERED), PUBLIC)
    assert found is not None
    assert (found.settled_by, found.outcome) == ("receipt", "against_buyer")
    assert found.detail.startswith("delivered at 1005.0 (order X: 5 events")


def test_a_verified_receipt_without_delivered_settles_it_for_the_buyer() -> None:
    found = settle(200, _receipt(STUCK), PUBLIC)
    assert found is not None and (found.settled_by, found.outcome) == ("receipt", "for_buyer")


def test_a_forged_receipt_leaves_the_claim_open() -> None:
    found = settle(200, _receipt(DELIVERED, key=Ed25519PrivateKey.generate()), PUBLIC)
    assert found is not None and (found.settled_by, found.outcome) == ("none", "open")
    assert "the signature is not the shop's" in found.detail


def test_an_edited_receipt_leaves_the_claim_open() -> None:
    receipt = json.loads(_receipt(STUCK))
    receipt["events"][2]["state"] = "delivered"  # the shop "remembers" a delivery
    found = settle(200, json.dumps(receipt), PUBLIC)
    assert found is not None and found.outcome == "open"
    assert "event 3 (delivered) is not in the log" in found.detail


def test_no_receipts_no_key_or_garbage_leave_it_open() -> None:
    for status, body, key in ((404, "{}", PUBLIC), (200, _receipt(DELIVERED), None),
                              (200, "<html>", PUBLIC), (0, "", PUBLIC)):
        found = settle(status, body, key)
        assert found is not None and found.outcome == "open" and found.settled_by == "none"


def test_a_key_that_does_not_work_is_no_claim_a_receipt_settles() -> None:
    found = settle(200, _receipt(DELIVERED), PUBLIC, kind="key")
    assert found is not None and (found.outcome, found.detail) == ("open", UNSETTLED_KEY)


def test_unsigned_events_are_asked_again_until_the_last_try() -> None:
    unsigned = [{"order_no": "X", "seq": 4, "state": "delivered"}]
    assert settle(409, "{}", PUBLIC, final=False) is None
    assert settle(200, _receipt(STUCK, pending=unsigned), PUBLIC, final=False) is None
    last = settle(200, _receipt(STUCK, pending=unsigned), PUBLIC, final=True)
    assert last is not None and last.outcome == "for_buyer"  # only what was signed counts
    # a delivered milestone already signed settles at once, pending events or not
    early = settle(200, _receipt(DELIVERED, pending=unsigned), PUBLIC, final=False)
    assert early is not None and early.outcome == "against_buyer"


def test_claim_kinds_follow_the_rates() -> None:
    rng = random.Random(1)
    rates = ClaimRates(undelivered=1.0, delivered=0.25)
    assert claim_kind(rates, shown_keys=False, rng=rng) == "honest"
    kinds = [claim_kind(rates, shown_keys=True, rng=rng) for _ in range(4000)]
    assert set(kinds) == {"false", None}
    assert 0.2 < kinds.count("false") / 4000 < 0.3  # binomial sd 0.007: never outside
    assert claim_kind(ClaimRates(), shown_keys=False, rng=rng) is None


def test_key_claims_are_drawn_from_the_buyers_shown_their_keys() -> None:
    rng = random.Random(2)
    rates = ClaimRates(delivered=0.2, key_broken=0.3)
    kinds = [claim_kind(rates, shown_keys=True, rng=rng) for _ in range(4000)]
    assert 0.26 < kinds.count("key") / 4000 < 0.34 and 0.16 < kinds.count("false") / 4000 < 0.24
    assert claim_kind(rates, shown_keys=False, rng=rng) is None  # undelivered: 0


def test_claim_rates_of_the_same_buyers_add_up_to_at_most_one() -> None:
    with pytest.raises(ValidationError, match="at most 1"):
        ClaimRates(delivered=0.6, key_broken=0.5)
