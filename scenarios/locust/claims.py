"""A buyer's claim of non-delivery and its settlement by the order's receipt (pure).

`claim_kind` draws whether a buyer whose order ended claims, and which kind of claim it is
(contract/disputes.py). `settle` reads the shop's answer to `GET /api/orders/{no}/receipt` and
checks it offline with the same code as `fakalab receipt verify` (`contract/receipt.py`)
against the key the shop published: a verified `delivered` milestone settles the claim against
the buyer, a verified receipt without one settles it for the buyer (refund or redeliver), and
anything that does not verify leaves it open — a ticket for support, as is every claim at a
shop without receipts, and every claim that a key does not work.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from fakalab.contract.disputes import ClaimRates
from fakalab.contract.receipt import ReceiptError, verify_receipt
from fakalab.contract.stages import OrderState

__all__ = ["UNSETTLED_KEY", "Settlement", "claim_kind", "settle"]

DELIVERED = OrderState.DELIVERED.value


@dataclass(frozen=True)
class Settlement:
    settled_by: str  # receipt | none
    outcome: str  # against_buyer | for_buyer | open
    detail: str


def claim_kind(rates: ClaimRates, shown_keys: bool, rng: random.Random) -> str | None:
    """`honest` (left without the keys), `false` (shown them, claims non-delivery anyway),
    `key` (shown them, says a key does not work) or None (no claim), at the scenario's rates."""
    if not shown_keys:
        return "honest" if rates.undelivered > 0 and rng.random() < rates.undelivered else None
    if rates.delivered + rates.key_broken <= 0:
        return None
    draw = rng.random()
    return "false" if draw < rates.delivered else \
        "key" if draw < rates.delivered + rates.key_broken else None


def _open(detail: str) -> Settlement:
    return Settlement("none", "open", detail)


UNSETTLED_KEY = "a receipt proves the shop logged a delivery, not that the key works"


def settle(status: int, body: str, public_key: str | None, final: bool = True,
           kind: str = "false") -> Settlement | None:
    """The settlement of a claim from the shop's receipt answer (`status`, `body`); None when
    it is worth asking again in a second (not `final`): no event of the order signed yet (409),
    or events not yet in a signed head and no `delivered` among those signed. A `key` claim
    stays open whatever the receipt says."""
    if kind == "key":
        return _open(UNSETTLED_KEY)
    if public_key is None:
        return _open("the shop publishes no receipt key")
    if status == 409 and not final:
        return None
    if status != 200:
        return _open(f"no receipt (HTTP {status})" if status else "no receipt (no answer)")
    try:
        receipt: Any = json.loads(body)
    except ValueError:
        return _open("the receipt is not JSON")
    if not isinstance(receipt, dict):
        return _open("the receipt is not an object")
    try:
        proved = verify_receipt(receipt, public_key)
    except ReceiptError as exc:
        return _open(f"the receipt does not verify: {exc}")
    states = [e.get("state") for e in receipt["events"]]
    if DELIVERED in states:
        delivered = receipt["events"][states.index(DELIVERED)]
        return Settlement("receipt", "against_buyer",
                          f"delivered at {delivered.get('at')} ({proved[0]})")
    if receipt.get("pending") and not final:
        return None
    return Settlement("receipt", "for_buyer", f"no delivered milestone ({proved[0]})")
