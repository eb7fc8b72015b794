import itertools

import pytest

from fakalab.reference_shop.states import (
    IN_FLIGHT,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    OrderState,
    check_transition,
)

S = OrderState
ALLOWED = {
    (S.PENDING_PAYMENT, S.PAID), (S.PENDING_PAYMENT, S.EXPIRED),
    (S.PAID, S.RISK_CHECK), (S.PAID, S.NEEDS_ATTENTION),
    (S.RISK_CHECK, S.ALLOCATING), (S.RISK_CHECK, S.NEEDS_REVIEW),
    (S.RISK_CHECK, S.NEEDS_ATTENTION),
    (S.ALLOCATING, S.DELIVERING), (S.ALLOCATING, S.NEEDS_ATTENTION),
    (S.DELIVERING, S.DELIVERED), (S.DELIVERING, S.NEEDS_ATTENTION),
    (S.EXPIRED, S.PAID), (S.EXPIRED, S.NEEDS_REFUND),
    (S.NEEDS_REVIEW, S.ALLOCATING), (S.NEEDS_REVIEW, S.REFUNDED),
    (S.NEEDS_ATTENTION, S.PAID), (S.NEEDS_ATTENTION, S.REFUNDED),
    (S.NEEDS_REFUND, S.REFUNDED),
}


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transition(current: OrderState, target: OrderState) -> None:
    assert check_transition(current.value, target.value) is target


FORBIDDEN = sorted(set(itertools.product(S, S)) - ALLOWED)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition(current: OrderState, target: OrderState) -> None:
    with pytest.raises(IllegalTransition, match=f"{current.value} -> {target.value}"):
        check_transition(current, target)


def test_table_matches_the_documented_machine() -> None:
    assert {(a, b) for a, bs in TRANSITIONS.items() for b in bs} == ALLOWED


def test_terminal_states_have_no_exit_and_delivered_is_final() -> None:
    for state in TERMINAL:
        assert not TRANSITIONS[state]
    assert S.DELIVERED not in {b for a, bs in TRANSITIONS.items() for b in bs if a in TERMINAL}
    assert S.PAID in IN_FLIGHT and S.DELIVERED not in IN_FLIGHT


def test_unknown_state_is_rejected() -> None:
    with pytest.raises(ValueError):
        check_transition("shipped", "delivered")
