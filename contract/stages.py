"""The vocabulary of an order's stages, as a buyer, the shop and every report name them (pure).

`OrderState` is the reference shop's stage names and the run directory's `state` columns; the
shop's state machine over them is `fakalab.reference_shop.states`. Another shop's states are
mapped onto these names by its target profile (an unmapped state is kept verbatim).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FINAL_LABELS", "FINAL_STATES", "GENERIC_LABELS", "IN_FLIGHT_STATES", "OrderState",
           "Transparency"]


class OrderState(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    RISK_CHECK = "risk_check"
    ALLOCATING = "allocating"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    NEEDS_REVIEW = "needs_review"
    NEEDS_ATTENTION = "needs_attention"
    NEEDS_REFUND = "needs_refund"
    REFUNDED = "refunded"


S = OrderState

# The buyer's wait is over: no time accrues in these, and a buyer stops watching.
FINAL_STATES: frozenset[OrderState] = frozenset({S.DELIVERED, S.EXPIRED, S.REFUNDED})
# Paid and being worked on by the shop's pipeline.
IN_FLIGHT_STATES: frozenset[OrderState] = frozenset(
    {S.PAID, S.RISK_CHECK, S.ALLOCATING, S.DELIVERING})
# What an opaque shop shows instead of a stage: an observation with one of these names no stage.
GENERIC_LABELS: frozenset[str] = frozenset(
    {"", "processing", "pending", "completed", "success", "unknown"})
# Final as a buyer sees it: a stage name, or the label of a shop that hides its stages.
FINAL_LABELS: frozenset[str] = FINAL_STATES | {"completed", "closed", "cancelled", "failed"}


class Transparency(StrEnum):
    """How much of its stages a shop shows its buyers."""

    TRANSPARENT = "transparent"
    OPAQUE = "opaque"
