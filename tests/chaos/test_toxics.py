"""Toxic models: defaults, validation errors and PATCH merging, without I/O."""

from __future__ import annotations

import pytest

from fakalab.chaos.toxics import ApiError, Toxic, parse_toxic, update_toxic


def test_defaults_fill_name_stream_toxicity_and_every_attribute() -> None:
    toxic = parse_toxic({"type": "slicer", "attributes": {"average_size": 5}})
    assert toxic == Toxic("slicer_downstream", "slicer", "downstream", 1.0,
                          {"average_size": 5, "size_variation": 0, "delay": 0})
    assert parse_toxic({"type": "noop", "stream": "upstream"}).name == "noop_upstream"


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"type": "nope"}, 400, "invalid toxic type"),
    ({"type": "noop", "stream": "both"}, 400,
     "stream was invalid, can be either upstream or downstream"),
    ({"type": "latency", "attributes": {"latency": "slow"}}, 400,
     "bad request body: attribute 'latency' must be an integer, got 'slow'"),
    ({"type": "latency", "attributes": {"latency": 1.5}}, 400,
     "bad request body: attribute 'latency' must be an integer, got 1.5"),
    ({"type": "noop", "toxicity": 2}, 400,
     "bad request body: toxicity must be between 0 and 1, got 2"),
    ([], 400, "bad request body: expected a JSON object"),
])
def test_invalid_bodies(body: object, status: int, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_toxic(body)
    assert (caught.value.status, caught.value.message) == (status, message)
    assert caught.value.body() == {"error": message, "status": status}


def test_unknown_attributes_are_ignored_like_go_does() -> None:
    assert parse_toxic({"type": "timeout", "attributes": {"x": 1}}).attributes == {"timeout": 0}


def test_update_merges_attributes_and_keeps_identity() -> None:
    toxic = parse_toxic({"name": "t", "type": "latency", "attributes": {"latency": 10}})
    updated = update_toxic(toxic, {"attributes": {"jitter": 3}, "type": "noop", "name": "x"})
    assert updated == Toxic("t", "latency", "downstream", 1.0, {"latency": 10, "jitter": 3})
    assert update_toxic(toxic, {"toxicity": 0.25}).toxicity == 0.25
    assert toxic.attributes == {"latency": 10, "jitter": 0}  # the original is untouched
