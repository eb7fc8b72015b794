"""Buyers who claim non-delivery after their order ends, settled by the receipt (gevent I/O).

After a buyer's watch ends, `Disputes.after` draws whether they claim (`claims` of the
scenario's buyers, `claims.claim_kind`), waits `after_s`, and settles the claim the way the
shop's support would on the buyer's behalf: it fetches the order's receipt (the profile's
`receipt` step) and checks it offline against the key the shop published (the `receipt_key`
step, fetched once per generator process), asking again each second, at most `RETRIES` times,
while the order's events are not yet in a signed head (`claims.settle`). A shop without
receipts (no such steps, or 404) leaves every claim open. Each claim is one row of
`disputes.csv` (contract/disputes.py).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import gevent

from fakalab.contract.disputes import ClaimRates
from fakalab.scenarios.locust.claims import UNSETTLED_KEY, Settlement, claim_kind, settle
from fakalab.scenarios.locust.records import RecordWriter
from fakalab.scenarios.profile_client import ProfileClient

__all__ = ["RETRIES", "Disputes"]

RETRIES = 5
_NO_KEY = ""  # the shop answered: no receipts


class Disputes:
    def __init__(self, client: ProfileClient, rates: ClaimRates, writer: RecordWriter) -> None:
        self.client = client
        self.rates = rates
        self.writer = writer
        self._key: str | None = None  # None: not asked yet

    def after(self, order: dict[str, Any], shown_keys: bool, rng: random.Random) -> None:
        """The buyer's claim once their order ended, if they make one."""
        kind = claim_kind(self.rates, shown_keys, rng)
        if kind is None:
            return
        gevent.sleep(self.rates.after_s)
        claimed = time.time()
        found = self._settle(order, kind)
        settled = round(time.time() - claimed, 3) if found.outcome != "open" else None
        self.writer.dispute(order["order_id"], claimed, kind, found.settled_by, found.outcome,
                            settled, found.detail)

    def public_key(self) -> str | None:
        """The shop's published receipt key (hex), None when it has none."""
        if self._key is None:
            self._key = _NO_KEY
            if self.client.has("receipt_key"):
                result = self.client.run("receipt_key", {})
                key = _json_field(result.answer.text, "public_key") if result.ok else None
                self._key = key or _NO_KEY
        return self._key or None

    def _settle(self, order: dict[str, Any], kind: str) -> Settlement:
        if kind == "key":  # nothing to fetch: no receipt settles it
            return Settlement("none", "open", UNSETTLED_KEY)
        key = self.public_key()
        if key is None or not self.client.has("receipt"):
            return Settlement("none", "open", "the shop gives no receipts")
        for _ in range(RETRIES - 1):
            answer = self.client.run("receipt", dict(order)).answer
            found = settle(answer.status, answer.text, key, final=False)
            if found is not None:
                return found
            gevent.sleep(1.0)
        answer = self.client.run("receipt", dict(order)).answer
        final = settle(answer.status, answer.text, key, final=True)
        assert final is not None  # a final answer always settles or leaves the claim open
        return final


def _json_field(text: str, name: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None
