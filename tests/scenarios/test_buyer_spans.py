"""The buyers' own spans: a sampled journey's root span carries the ids of the traceparent the
buyer sends, each request a CLIENT span under it whose id is the traceparent sent with it; an
unsampled journey makes none. Read back through contract/traces.py."""

from __future__ import annotations

import random
from pathlib import Path

from fakalab.contract.traces import BUYERS, CLIENT, ORDER_NO, decode_line, read_spans
from fakalab.scenarios.locust.records import RecordReceiver, RecordShipper
from fakalab.scenarios.locust.spans import BuyerSpans, parse_traceparent

TRACE = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"


def test_a_journey_is_a_root_span_with_client_spans_under_it() -> None:
    lines: list[str] = []
    spans = BuyerSpans(lines.append, rng=random.Random(1))
    journey = spans.start(TRACE)
    child = spans.child(TRACE)
    assert child is not None
    header, _, span_id, _ = child
    assert parse_traceparent(header) == (int("ab" * 16, 16), span_id)
    spans.client(child, "create_order /api/orders", 1, 201)
    spans.end(journey, "buyer", "ORDER1")
    assert lines == []  # not flushed yet
    spans.flush()
    (line,) = lines
    client, root = decode_line(line)
    assert (root.service, root.trace_id, root.span_id, root.parent_id) == (
        BUYERS, "ab" * 16, "cd" * 8, "")
    assert root.name == "journey buyer" and root.attributes[ORDER_NO] == "ORDER1"
    assert (client.kind, client.parent_id, client.span_id) == (CLIENT, root.span_id,
                                                                header.split("-")[2])
    assert client.attributes == {"http.response.status_code": 201} and not client.error


def test_an_unsampled_or_missing_traceparent_makes_no_span() -> None:
    lines: list[str] = []
    spans = BuyerSpans(lines.append)
    for header in (TRACE[:-2] + "00", None, "garbage"):
        assert spans.start(header) is None and spans.child(header) is None
    spans.end(None, "buyer", "X")
    spans.flush()
    assert lines == []


def test_a_failed_request_is_an_error_span() -> None:
    lines: list[str] = []
    spans = BuyerSpans(lines.append, flush_every=1)
    child = spans.child(TRACE)
    assert child is not None
    spans.client(child, "status", 1, 0)
    (span,) = decode_line(lines[0])
    assert span.error


def test_a_workers_spans_reach_the_masters_traces_directory(tmp_path: Path) -> None:
    receiver = RecordReceiver(tmp_path / "records", tmp_path / "traces")
    shipper = RecordShipper(lambda batch: receiver.receive("w1", batch))
    spans = BuyerSpans(shipper.span_line)
    spans.end(spans.start(TRACE), "buyer", "ORDER1")
    spans.flush()
    shipper.flush()
    found, problems = read_spans(tmp_path)
    assert problems == [] and [(s.service, s.name) for s in found] == [(BUYERS, "journey buyer")]
    assert (tmp_path / "traces" / "buyers-w1.jsonl").is_file()
