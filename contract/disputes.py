"""Status disputes: buyers who claim non-delivery, and how each claim was settled (pure).

A buyer whose order has ended claims, at the rates of the scenario's `load.buyers.claims`,
that it was not delivered: an *honest* claim when they left without being shown their keys
(they gave up after `max_wait_s`), a *false* one when they were shown them and claim anyway
(or did not notice), and a *key* claim when they were shown them and say the key does not work
— which no receipt can settle: it proves the shop logged a delivery, not what the key is worth.
The claim is settled by the order's receipt (docs/receipts.md) when the
shop gives one that verifies against its published key — `against_buyer` when a `delivered`
milestone is in it, `for_buyer` (refund or redeliver) when none is — and stays `open` (a
ticket for support) otherwise. One row per claim in the run directory's `disputes.csv`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CLAIM_KINDS", "DISPUTE_COLUMNS", "OUTCOMES", "SETTLED_BY", "ClaimRates"]

# order_no; at: when the buyer claimed; kind: honest | false | key; settled_by: receipt | none;
# outcome: against_buyer | for_buyer | open; settle_s: claim to settlement (empty when open);
# detail: what the receipt proved, or why it settled nothing (one line).
DISPUTE_COLUMNS = ("order_no", "at", "kind", "settled_by", "outcome", "settle_s", "detail")
CLAIM_KINDS = ("honest", "false", "key")
SETTLED_BY = ("receipt", "none")
OUTCOMES = ("against_buyer", "for_buyer", "open")


class ClaimRates(BaseModel):
    """Of the buyers whose order ended, who claims non-delivery (none by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # of the buyers who left without being shown their keys, the share who claim (honest)
    undelivered: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    # of the buyers who were shown their keys, the share who claim anyway (false)
    delivered: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    # of the buyers who were shown their keys, the share who say a key does not work (key)
    key_broken: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    # seconds between the end of the buyer's watch and the claim
    after_s: Annotated[float, Field(ge=0.0, le=600.0)] = 2.0

    @model_validator(mode="after")
    def _shares(self) -> ClaimRates:
        if self.delivered + self.key_broken > 1:
            raise ValueError("delivered + key_broken is a share of the same buyers: at most 1")
        return self
