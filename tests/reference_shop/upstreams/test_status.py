"""A provider's status page: the Statuspage summary.json shape (pure), and the real thing on
127.0.0.1 — summary.json, the SSE push delivering an announcement, its withdrawal."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from fakalab.reference_shop.upstreams.faults import PaymentFaults, SupplierFaults
from fakalab.reference_shop.upstreams.process import UpstreamsProcess
from fakalab.reference_shop.upstreams.status import (
    Announcement,
    StatusBoard,
    auto_status,
    summary,
)

COMPONENT_KEYS = {"id", "name", "status", "created_at", "updated_at", "position", "description",
                  "showcase", "start_date", "group_id", "page_id", "group",
                  "only_show_if_degraded"}


def test_a_quiet_provider_is_all_operational() -> None:
    doc = summary(StatusBoard("payment-a", 1000.0), PaymentFaults())
    assert set(doc) == {"page", "status", "components", "incidents", "scheduled_maintenances"}
    assert doc["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert set(doc["components"][0]) == COMPONENT_KEYS
    assert doc["components"][0]["status"] == "operational"
    assert doc["incidents"] == []


def test_an_announcement_is_an_incident_with_impact_and_updates() -> None:
    board = StatusBoard("payment-a", 1000.0)
    incident_id = board.announce(Announcement(id="x1", status="major_outage", name="Down"), 1001)
    doc = summary(board, PaymentFaults())
    assert doc["status"]["indicator"] == "critical"
    assert doc["components"][0]["status"] == "major_outage"
    (incident,) = doc["incidents"]
    assert (incident["id"], incident["impact"], incident["status"]) == (
        incident_id, "critical", "investigating")
    assert incident["incident_updates"][0]["affected_components"][0]["new_status"] == (
        "major_outage")
    assert board.resolve("x1", 1002) and summary(board, PaymentFaults())["incidents"] == []
    assert not board.resolve("x1", 1003)


def test_fault_switches_show_only_on_a_page_that_reports_itself() -> None:
    board = StatusBoard("supplier-a", 1000.0)
    faults = SupplierFaults(error_pct=50)
    assert summary(board, faults)["components"][0]["status"] == "operational"  # silent
    board.set_auto(True, 1001)
    assert summary(board, faults)["components"][0]["status"] == "partial_outage"
    assert auto_status(SupplierFaults(error_pct=95)) == "major_outage"
    assert auto_status(SupplierFaults(latency_ms=300)) == "degraded_performance"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    with UpstreamsProcess(only=["payment-a"]) as proc:
        yield proc.urls


def _next_summary(lines: Iterator[str]) -> dict[str, object]:
    for line in lines:
        if line.startswith("data: "):
            return json.loads(line[6:])  # type: ignore[no-any-return]
    raise AssertionError("the stream ended")


def test_the_push_delivers_an_announcement_and_its_withdrawal(upstreams: dict[str, str]) -> None:
    url = upstreams["payment-a"]
    with httpx.Client(base_url=url, timeout=10) as http:
        with http.stream("GET", "/api/v2/stream") as stream:
            lines = stream.iter_lines()
            assert _next_summary(lines)["incidents"] == []
            made = http.post("/admin/status/incidents",
                             json={"id": "drill-f1", "status": "partial_outage"})
            assert made.status_code == 201
            pushed = _next_summary(lines)
            assert [i["id"] for i in pushed["incidents"]] == ["drill-f1"]  # type: ignore[attr-defined]
            assert http.get("/api/v2/summary.json").json()["status"]["indicator"] == "major"
            assert http.delete("/admin/status/incidents/drill-f1").status_code == 204
            assert _next_summary(lines)["incidents"] == []
        assert http.delete("/admin/status/incidents/drill-f1").status_code == 404


def test_a_bad_announcement_is_refused_naming_the_field(upstreams: dict[str, str]) -> None:
    answer = httpx.post(f"{upstreams['payment-a']}/admin/status/incidents",
                        json={"status": "on_fire"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "status"
