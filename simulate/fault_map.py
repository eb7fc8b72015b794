"""A scenario's drill faults, followed into the pipeline as the shop experiences them (pure).

Each fault becomes what it does to the shop's calls, its callbacks or the shop itself — never a
guess at the stage's outcome: the timeouts, retries, backoff, breakers, failover and holds that
turn it into delays are the shop's own rules, applied by the model (``simulate.calls``,
``simulate.channels``, ``simulate.plan``) with the scenario's ``ShopSettings``.

Where each mapping comes from (the shop calls every upstream through its Toxiproxy proxy,
``scenarios/stack.py``; a link ``shop->NAME`` carries the shop's requests to NAME and their
answers, nothing else — a payment channel's callbacks and the buyers' pay pages do not pass it):

The mapping, row by row with the code each row comes from, is the table "Faults followed into
the pipeline" in docs/simulation.md; ``tests/simulate/test_fault_map.py`` has a test per row.

A business switch acts on every call (toxicity applies to toxics only: ``chaos/faults.py``
patches the switches as given).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from fakalab.chaos.effects import slice_bounds
from fakalab.chaos.plan import FaultSpec
from fakalab.contract.scenario import Scenario
from fakalab.contract.services import OUTAGE_STATUSES
from fakalab.simulate.params import Announcement, Fault, UpstreamFault

__all__ = ["MESSAGE_BYTES", "RESTART_S", "Mapped", "map_fault", "map_faults"]

RESTART_S = 1.0  # a killed process is back about 1 s after its restart (docs/chaos.md)
# Bytes of one exchange with each upstream (request, answer), HTTP/1.1 headers included: the
# shop's httpx requests and the upstreams' FastAPI answers (docs/upstreams.md bodies).
MESSAGE_BYTES: dict[str, tuple[int, int]] = {
    "risk": (290, 250),
    "supplier": (230, 220),
    "payment": (320, 340),
    "notify": (300, 160),
}
CHANNELS = ("payment-a", "payment-b")


@dataclass
class Mapped:
    """What a scenario's faults do: upstream attempt faults, callback faults per channel (the
    drop probability of the ``Fault`` windows), shop outages, the providers' announcements of
    an outage (heard only by a shop with ``provider_signals``), and a line per fault saying
    what it became (``notes``) or why it does nothing to the pipeline (``ignored``)."""

    upstream_faults: list[UpstreamFault] = field(default_factory=list)
    channel_faults: list[Fault] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)
    announcements: list[Announcement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def extend(self, other: Mapped) -> None:
        self.upstream_faults += other.upstream_faults
        self.channel_faults += other.channel_faults
        self.outages += other.outages
        self.announcements += other.announcements
        self.notes += other.notes
        self.ignored += other.ignored


def _family(service: str) -> str:
    return service.split("-", 1)[0]


def _bytes(service: str, stream: str) -> int:
    request, answer = MESSAGE_BYTES[_family(service)]
    return request if stream == "upstream" else answer


def _describe(spec: FaultSpec) -> str:
    what = spec.fault.type or spec.fault.kind
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(spec.fault.attributes.items()))
    return f"{spec.id} {spec.link} {what}{f' {{{attributes}}}' if attributes else ''}"


def _slices(size: int, average: int, variation: int) -> float:
    """Mean number of slices of a ``size``-byte message (``slice_bounds``, 20 draws)."""
    rng = random.Random(0)
    return sum(len(slice_bounds(size, average, variation, rng)) for _ in range(20)) / 20


def _toxic(spec: FaultSpec, timeout_s: float) -> tuple[dict[str, object] | None, str]:
    """The UpstreamFault fields of a toxic, or None and why it does nothing."""
    a = spec.fault.attributes
    size = _bytes(spec.service, spec.stream)
    kind = spec.fault.type
    if kind == "latency":
        added, jitter = a.get("latency", 0) / 1000, a.get("jitter", 0) / 1000
        note = f"+{added:g} s ± {jitter:g} s per attempt"
        if added - jitter >= timeout_s:
            note += f" (≥ upstream_timeout_s {timeout_s:g}: every attempt times out)"
        return {"added_latency_s": added, "jitter_s": jitter}, note
    if kind == "bandwidth":
        rate = a.get("rate", 0) * 1000
        if rate <= 0:
            return None, "rate 0 passes data unthrottled (chaos/effects.py Bandwidth)"
        return {"added_latency_s": size / rate}, f"+{size / rate:g} s per attempt ({size} B)"
    if kind == "slicer":
        delay = a.get("delay", 0) / 1_000_000
        slices = _slices(size, a.get("average_size", 0), a.get("size_variation", 0))
        if delay <= 0:
            return None, "no delay between slices"
        return {"added_latency_s": slices * delay}, f"+{slices * delay:g} s ({slices:g} slices)"
    if kind == "timeout":
        after = a.get("timeout", 0) / 1000
        fail = None if after <= 0 else after
        shown = f"{min(after, timeout_s):g} s" if fail else f"the shop's timeout ({timeout_s:g} s)"
        return {"fails": True, "fail_after_s": fail}, f"attempts fail after {shown}"
    if kind == "reset_peer":
        after = a.get("timeout", 0) / 1000
        return {"fails": True, "fail_after_s": after}, f"attempts reset after {after:g} s"
    if kind == "limit_data":
        limit = a.get("bytes", 0)
        if limit < size:
            return {"fails": True, "fail_after_s": 0.0}, "every attempt is cut off"
        every = limit // size + 1
        return ({"fails": True, "fail_after_s": 0.0, "share_factor": 1 / every},
                f"one attempt in {every} is cut off")
    if kind == "slow_close":
        return None, "connections are kept alive: no close is waited for"
    return None, f"{kind} does nothing to the calls"


_PAYMENT_CALLS = {"latency_ms": "create", "error_pct": "create", "query_latency_ms": "query"}


def _business(spec: FaultSpec, start: float, end: float) -> Mapped:
    out = Mapped()
    service, a = spec.service, spec.fault.attributes
    family = _family(service)
    described = _describe(spec)
    if family == "notify":
        out.ignored.append(f"{described}: the notification is a side task after delivery")
        return out
    if family == "payment":
        lost, wrong = a.get("callback_drop_pct", 0) / 100, a.get("wrong_amount_pct", 0) / 100
        drop = round(lost + wrong - lost * wrong, 12)
        if drop > 0:
            out.channel_faults.append(Fault(target=service, start_s=start, end_s=end,
                                            failure_prob=drop))
            out.notes.append(f"{described}: {drop:.0%} of payments made meanwhile are confirmed "
                             "only by reconciliation")
        if "callback_delay" in a:
            mean = float(a["callback_delay"].get("mean_s", 0.05))  # type: ignore[union-attr]
            out.channel_faults.append(Fault(target=service, start_s=start, end_s=end,
                                            latency_factor=0.0, added_latency_s=mean))
            out.notes.append(f"{described}: callbacks {mean:g} s after payment")
        for switch, calls in _PAYMENT_CALLS.items():
            if a.get(switch):
                fields: dict[str, object] = (
                    {"error_prob": a[switch] / 100} if switch == "error_pct"
                    else {"added_latency_s": a[switch] / 1000})
                out.upstream_faults.append(UpstreamFault(
                    target=service, start_s=start, end_s=end, calls=calls, **fields))  # type: ignore[arg-type]
                out.notes.append(f"{described}: {switch} on {calls} calls")
        rest = set(a) - {"callback_drop_pct", "wrong_amount_pct", "callback_delay",
                         *_PAYMENT_CALLS}
        if rest and not (out.notes or out.channel_faults):
            out.ignored.append(f"{described}: {', '.join(sorted(rest))} changes no delay "
                               "(duplicates are idempotent; retries matter only to a down shop)")
        return out
    fields = {}
    if a.get("latency_ms"):
        fields["added_latency_s"] = a["latency_ms"] / 1000
    if a.get("error_pct"):
        fields["error_prob"] = a["error_pct"] / 100
    if a.get("out_of_stock_pct"):
        fields["refuse_prob"] = a["out_of_stock_pct"] / 100
    if a.get("false_positive_pct"):
        fields["review_prob"] = a["false_positive_pct"] / 100
    if fields:
        out.upstream_faults.append(UpstreamFault(target=service, start_s=start, end_s=end,
                                                 **fields))  # type: ignore[arg-type]
        out.notes.append(f"{described}: {', '.join(f'{k}={v:g}' for k, v in fields.items())}")
    else:
        out.ignored.append(f"{described}: no switch that changes a call")
    return out


def _announcement(spec: FaultSpec, start: float, end: float) -> Mapped:
    """The provider's word on the fault: from ``announce_after`` after its start (shorter than
    the fault, ``FaultSpec``) to its end, when ``chaos/faults.py`` withdraws it; only an outage
    status steers the shop."""
    out = Mapped()
    if not spec.announced:
        return out
    said, status = start + float(spec.announce_after), spec.announced_status
    if status not in OUTAGE_STATUSES:
        out.ignored.append(f"{spec.id} announcement ({status}): steers nothing")
        return out
    out.announcements.append(Announcement(target=spec.service, start_s=said, end_s=end))
    out.notes.append(f"{spec.id} {spec.service} announces {status} {said:g}–{end:g} s: a shop "
                     "with provider_signals puts the alternative first")
    return out


def map_fault(spec: FaultSpec, *, timeout_s: float = 2.0, offset_s: float = 0.0) -> Mapped:
    """One drill fault (times from the load's start, plus ``offset_s``)."""
    start = float(spec.start) + offset_s
    end = start + float(spec.duration)
    out = _announcement(spec, start, end)
    out.extend(_effect(spec, start, end, timeout_s))
    return out


def _effect(spec: FaultSpec, start: float, end: float, timeout_s: float) -> Mapped:
    """What the fault itself does to the pipeline."""
    out = Mapped()
    service, described = spec.service, _describe(spec)
    action = spec.fault
    if spec.false_alarm:
        out.ignored.append(f"{described}: a false announcement, no fault")
        return out
    if action.kind == "kill":
        if service == "shop":
            out.outages.append((start, end + RESTART_S))
            out.notes.append(f"{described}: the shop is down {start:g}–{end + RESTART_S:g} s")
        else:
            out.upstream_faults.append(UpstreamFault(
                target=service, start_s=start, end_s=end + RESTART_S, fails=True,
                fail_after_s=0.0))
            out.notes.append(f"{described}: {service} refuses calls {start:g}–"
                             f"{end + RESTART_S:g} s")
        return out
    if _family(service) == "notify" and action.kind != "business":
        out.ignored.append(f"{described}: the notification is a side task after delivery")
        return out
    if action.kind == "down":
        out.upstream_faults.append(UpstreamFault(target=service, start_s=start, end_s=end,
                                                 fails=True, fail_after_s=0.0))
        out.notes.append(f"{described}: every attempt is refused at once")
        return out
    if action.kind == "business":
        return _business(spec, start, end)
    fields, note = _toxic(spec, timeout_s)
    if fields is None:
        out.ignored.append(f"{described}: {note}")
        return out
    share = spec.toxicity * float(fields.pop("share_factor", 1.0))  # type: ignore[arg-type]
    out.upstream_faults.append(UpstreamFault(target=service, start_s=start, end_s=end,
                                             share=share, **fields))  # type: ignore[arg-type]
    out.notes.append(f"{described}: {note}"
                     + (f" on {share:.0%} of attempts" if share < 1 else ""))
    return out


def map_faults(scenario: Scenario, *, timeout_s: float = 2.0, offset_s: float = 0.0,
               faults: Iterable[FaultSpec] | None = None) -> Mapped:
    """Every fault of the scenario's drill (or ``faults``)."""
    out = Mapped()
    specs = faults if faults is not None else (scenario.drill.faults if scenario.drill else [])
    for spec in specs:
        out.extend(map_fault(spec, timeout_s=timeout_s, offset_s=offset_s))
    return out


def outage_end(t: float, outages: Iterable[tuple[float, float]]) -> float:
    """``t`` itself, or the end of the outage it falls in."""
    for start, end in outages:
        if start <= t < end:
            return end
    return t
