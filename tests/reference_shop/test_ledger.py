from typing import Any

from fakalab.reference_shop.ledger import GENESIS, event_hash, verify_chain


def chain(order_no: str, states: list[str], start: float = 100.0) -> list[dict[str, Any]]:
    events, prev = [], GENESIS
    for seq, state in enumerate(states, 1):
        ev: dict[str, Any] = {"order_no": order_no, "seq": seq, "at": start + seq, "state": state,
                              "message": f"in {state}", "eta_at": None, "visible": True,
                              "prev_hash": prev}
        ev["hash"] = event_hash(prev, ev)
        prev = ev["hash"]
        events.append(ev)
    return events


STATES = ["pending_payment", "paid", "risk_check", "allocating", "delivering", "delivered"]


def test_intact_chains_verify() -> None:
    assert verify_chain(chain("A", STATES) + chain("B", STATES[:3])) == []


def test_edited_message_is_detected() -> None:
    events = chain("A", STATES)
    events[2]["message"] = "all fine"
    breaks = verify_chain(events)
    assert [(b.seq, b.reason) for b in breaks][:1] == [
        (3, "hash does not match the event's contents")]


def test_edited_state_with_recomputed_hash_breaks_the_next_link() -> None:
    events = chain("A", STATES)
    events[1]["state"] = "delivered"
    events[1]["hash"] = event_hash(events[1]["prev_hash"], events[1])
    breaks = verify_chain(events)
    assert breaks and breaks[0].seq == 3 and "prev_hash" in breaks[0].reason


def test_deleted_event_is_detected() -> None:
    events = chain("A", STATES)
    del events[2]
    assert any(b.seq == 4 for b in verify_chain(events))


def test_inserted_event_is_detected() -> None:
    events = chain("A", STATES)
    forged = dict(events[1], seq=3, state="needs_review")
    forged["hash"] = event_hash(forged["prev_hash"], forged)
    events.insert(2, forged)
    assert verify_chain(events)


def test_timestamp_change_is_detected() -> None:
    events = chain("A", STATES)
    events[5]["at"] += 60
    assert verify_chain(events)
