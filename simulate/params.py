"""The pipeline model's parameters: plain, validated, immutable data (no behaviour, no I/O).

Times are seconds from the start of the run; rates are orders per second.
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fakalab.simulate.dists import Dist

__all__ = [
    "HOLDING_STAGES",
    "Admission",
    "Announcement",
    "Buyer",
    "Channel",
    "Cpu",
    "Fault",
    "LoadShape",
    "Payment",
    "PipelineModel",
    "PriorityClass",
    "RiskActing",
    "Stage",
    "Trace",
    "Upstream",
    "UpstreamFault",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class LoadShape(BaseModel):
    """Arrival rate over time: linear between ``points`` (t, rate), flat beyond the ends."""

    model_config = _FROZEN

    points: tuple[tuple[float, float], ...] = Field(((0.0, 20.0),), min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> LoadShape:
        times = [t for t, _ in self.points]
        if times != sorted(times) or any(rate < 0 for _, rate in self.points):
            raise ValueError("load shape points need increasing times and non-negative rates")
        if self.peak <= 0:
            raise ValueError("the load shape needs a positive rate somewhere")
        return self

    @classmethod
    def constant(cls, rate: float) -> LoadShape:
        return cls(points=((0.0, rate),))

    @property
    def peak(self) -> float:
        return max(rate for _, rate in self.points)

    def rate(self, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        times = np.array([p[0] for p in self.points])
        rates = np.array([p[1] for p in self.points])
        return np.interp(t, times, rates)


class Stage(BaseModel):
    """One fulfilment stage: each attempt draws a service time; an attempt fails when it runs
    past ``timeout_s`` or with ``failure_prob``; failed attempts are retried ``attempts`` − 1
    times after a jittered exponential backoff. Only stages that ``block_delivery`` can leave an
    order undelivered (``needs_attention``). A stage that ``holds`` (the shop's risk check and
    supplier) does not park an order at once when it runs out of attempts: the order is queued
    again and retries the stage from scratch until the pipeline's ``hold_s`` after payment."""

    model_config = _FROZEN

    name: str
    service: Dist
    timeout_s: float | None = Field(2.0, gt=0)
    attempts: int = Field(3, ge=1, le=20)
    backoff_s: float = Field(0.1, ge=0)
    backoff_max_s: float = Field(2.0, ge=0)
    failure_prob: float = Field(0.0, ge=0, le=1)
    blocks_delivery: bool = True
    holds: bool = False
    # The shop's way (``upstreams`` given): ``service`` is the stage's own work on the shop's CPU
    # (its database write), then one call through the chain of upstreams (``simulate.calls``),
    # with the upstream's timeout, retries, backoff and breaker; ``timeout_s``, ``attempts``,
    # ``failure_prob`` and the backoff above then apply only to legacy stages without upstreams.
    upstreams: tuple[str, ...] = ()
    call_for: Literal["all", "supplier"] = "all"  # orders that make the call (product kind)
    failover_on_breaker: bool = False  # try the chain backwards while the first one's breaker
    # refuses (the shop's ``supplier_chain``)

    @model_validator(mode="after")
    def _holding(self) -> Stage:
        if self.holds and not self.blocks_delivery:
            raise ValueError(f"stage {self.name!r}: only a stage that blocks delivery can hold")
        return self


class Upstream(BaseModel):
    """An upstream service as the shop calls it (``reference_shop/upstream.py``
    ``Upstream.call``): up to ``retries`` attempts, each cut at ``timeout_s``, full-jitter
    backoff U[0, min(backoff_max_s, backoff_base_s · 2^attempt)] before attempts 1, 2, …, and a
    circuit breaker (``reference_shop/breaker.py``) that opens after ``breaker_threshold``
    consecutive failed attempts and refuses calls for ``breaker_cooldown_s``. ``latency`` is one
    attempt's time without faults, as the shop waits for it (I/O, not the shop's CPU)."""

    model_config = _FROZEN

    name: str
    latency: Dist = Dist.const(0.003)
    timeout_s: float = Field(2.0, gt=0)
    retries: int = Field(3, ge=1, le=20)
    backoff_base_s: float = Field(0.1, ge=0)
    backoff_max_s: float = Field(2.0, ge=0)
    breaker: bool = True
    breaker_threshold: int = Field(5, ge=1)
    breaker_cooldown_s: float = Field(5.0, gt=0)


class _Window(BaseModel):
    """Something about ``target`` during [start_s, end_s)."""

    model_config = _FROZEN
    _what: ClassVar[str] = "fault on"  # how the error names it

    target: str
    start_s: float = Field(ge=0)
    end_s: float

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.end_s <= self.start_s:
            raise ValueError(f"{self._what} {self.target!r}: end_s must be after start_s")
        return self


class UpstreamFault(_Window):
    """What a drill fault does to each attempt of a call to upstream ``target`` that starts in
    [start_s, end_s) (``simulate.fault_map`` derives these from scenario faults).

    A share ``share`` of attempts (the toxic's toxicity) is affected: ``added_latency_s`` ±
    U(−jitter_s, jitter_s) is added to its latency, and when ``fails`` it fails after
    ``fail_after_s`` (0: refused at once; None: it hangs until the shop's timeout). Business
    switches act on every attempt: ``error_prob`` answers 503 (a failed attempt, retried),
    ``refuse_prob`` a definitive refusal (the supplier's 409: the next upstream of the chain, or
    needs_attention), ``review_prob`` the risk service's "review" (needs_review)."""

    share: float = Field(1.0, ge=0, le=1)
    added_latency_s: float = Field(0.0, ge=0)
    jitter_s: float = Field(0.0, ge=0)
    fails: bool = False
    fail_after_s: float | None = Field(0.0, ge=0)
    error_prob: float = Field(0.0, ge=0, le=1)
    refuse_prob: float = Field(0.0, ge=0, le=1)
    review_prob: float = Field(0.0, ge=0, le=1)
    calls: Literal["all", "create", "query"] = "all"  # a payment channel's: all, creating
    # payments only (business ``latency_ms``, ``error_pct``) or queries only (``query_latency_ms``)


class Announcement(_Window):
    """A provider's status page announcing a partial or major outage of ``target`` during
    [start_s, end_s), as a shop subscribed to it (``provider_signals``) hears it: by the push,
    within milliseconds (docs/simulation.md). Failover then puts the other payment channel or
    supplier first, as long as that one has announced nothing (``payments.channel_chain``,
    ``fulfilment.supplier_chain``)."""

    _what: ClassVar[str] = "announcement of"


class RiskActing(BaseModel):
    """The shop acting on its delay-risk model (``delay_risk: act``; ``simulate.delay_risk``):
    the model's logistic regression over ``contract.delay_risk.FEATURES`` (standardised:
    ``means``, ``scales``, ``coefs``, ``intercept``) and the risk at which the shop acts."""

    model_config = _FROZEN

    means: tuple[float, ...]
    scales: tuple[float, ...]
    coefs: tuple[float, ...]
    intercept: float
    act_at: float = Field(0.05, gt=0, le=1)  # risk_act_at: serve first, steer to the other
    health_window_s: float = Field(10.0, gt=0)
    source: str = ""  # the model file, for the forecast's notes


class Cpu(BaseModel):
    """The shop's one event loop, shared by every stage's own work (``Stage.service`` when the
    stage has ``upstreams``): a single server, first come first served (``simulate.cpu``).
    Work the workers do not see takes a share of it: ``per_created_s`` of CPU per order created
    (placing it, creating the payment, the buyer's "I have paid", the callback),
    ``per_poll_s`` per buyer look (``polls_per_watcher`` looks per second per paid, undelivered
    order), ``per_waiting_s`` per second for each paid, undelivered order (its buyer's looks,
    its place in the queue the status monitor refreshes every second, the load generator
    sharing the machine) and ``per_delivery_s`` per delivery (the notification side task); at most
    ``max_background`` of it. While the shop is down (``outages``) nothing runs."""

    model_config = _FROZEN

    per_created_s: float = Field(0.0, ge=0)
    per_poll_s: float = Field(0.0, ge=0)
    polls_per_watcher: float = Field(0.0, ge=0)
    per_waiting_s: float = Field(0.0, ge=0)  # per second per paid, undelivered order
    per_delivery_s: float = Field(0.0, ge=0)
    max_background: float = Field(0.9, ge=0, lt=1)
    outages: tuple[tuple[float, float], ...] = ()
    # the machine's speed relative to the calibration's base drill: the CPU's work and the
    # upstreams' own latency (not a fault's) are divided by it
    speed: float = Field(1.0, gt=0)


class Channel(BaseModel):
    """A payment channel: how long its callback takes and how often it is lost."""

    model_config = _FROZEN

    name: str
    callback_delay: Dist = Dist.lognormal(1.0, 0.5)
    drop_prob: float = Field(0.0, ge=0, le=1)


class Payment(BaseModel):
    """From order creation to the shop confirming payment.

    The buyer pays after ``pay_time`` (a share ``pay_prob`` pays at all) and says "I have
    paid"; the channel's callback confirms after ``callback_delay`` unless dropped. A dropped
    callback is re-sent by the provider after ``provider_retry_s`` (None: never); reconciliation
    queries the provider ``reconcile_after_s`` after the buyer paid. Failover moves new orders
    to the next channel while the primary has an active fault (after ``failover_detect_s``).
    """

    model_config = _FROZEN

    pay_time: Dist = Dist.lognormal(20.0, 0.6)
    pay_prob: float = Field(1.0, ge=0, le=1)
    channels: tuple[Channel, ...] = (Channel(name="payment-a"), Channel(name="payment-b"))
    failover: bool = True
    failover_detect_s: float = Field(5.0, ge=0)
    reconciliation: bool = True
    reconcile_after_s: float = Field(5.0, ge=0)
    reconcile_latency: Dist = Dist.const(0.2)
    provider_retry_s: float | None = Field(60.0, gt=0)
    # The shop's way (``failover_rule="shop"``, ``simulate.channels``): each order's payment is
    # created as ``reference_shop/payments.py`` does — channel A first; with failover, B first
    # while A's breaker refuses or A's mean latency over the last ``health_window_s`` exceeds
    # ``slow_ms`` — through the ``PipelineModel.upstreams`` of the channels' names and their
    # faults; an order whose payment no channel could create is never paid. Reconciliation
    # runs in rounds every ``reconcile_interval_s`` (0: at once) and asks the channel (its
    # upstream call, faults included); a failed query is asked again ``max(2, after)`` later.
    # A callback that reaches a shop that is down is re-sent after ``callback_retries_s``.
    failover_rule: Literal["window", "shop"] = "window"
    health_window_s: float = Field(10.0, gt=0)
    slow_ms: float = Field(500.0, gt=0)
    reconcile_interval_s: float = Field(0.0, ge=0)
    callback_retries_s: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)

    @model_validator(mode="after")
    def _channels(self) -> Payment:
        names = [c.name for c in self.channels]
        if not names or len(set(names)) != len(names):
            raise ValueError("payment needs at least one channel, with distinct names")
        return self


class PriorityClass(BaseModel):
    """A priority lane; classes listed first are served first."""

    model_config = _FROZEN

    name: str
    share: float = Field(ge=0, le=1)
    supplier_share: float = Field(0.0, ge=0, le=1)  # its orders of supplier products


class Fault(_Window):
    """A time window during which a stage or payment channel is slower or fails more often.

    Latency becomes ``base × latency_factor + added_latency_s``; ``failure_prob`` (when set)
    replaces the stage's failure probability, or a channel's callback drop probability.
    """

    latency_factor: float = Field(1.0, ge=0)
    added_latency_s: float = Field(0.0, ge=0)
    failure_prob: float | None = Field(None, ge=0, le=1)


class Buyer(BaseModel):
    """The watching buyer, as the Locust personas behave (defaults from the scenarios'
    ``BuyerBehaviour``): files one ticket when what they see is unchanged for longer than their
    patience or the first ETA they were shown passes (plus ``eta_grace_s``) before delivery,
    and gives up (a ``gave_up`` ticket if none yet) after ``max_wait_s`` without delivery.
    They look every ``poll_s`` seconds (the personas' think time; 0: continuously, like SSE).

    ``transparent``: each stage is shown with an ETA and, with ``queue_updates``, the queue
    position refreshes whenever an order ahead starts; ``opaque``: only "processing" from
    payment to "completed"."""

    model_config = _FROZEN

    transparency: Literal["transparent", "opaque"] = "transparent"
    patience: Dist = Dist(kind="uniform", low=20.0, high=60.0)
    max_wait_s: float = Field(180.0, gt=0)
    eta_grace_s: float = Field(0.0, ge=0)
    poll_s: float = Field(3.0, ge=0)
    queue_updates: bool = True
    # "shop": the ETA on payment as the shop computes it now (throughput cap, overtaking,
    # ``eta_floor_s``, whole seconds; ``simulate.eta.shop_payment_etas``)
    eta: Literal["simple", "shop"] = "simple"
    eta_floor_s: float = Field(5.0, ge=0)
    # (share, poll_s) of buyers: each buyer draws how often they look (replaces ``poll_s``)
    poll_mix: tuple[tuple[float, float], ...] = ()


class Trace(BaseModel):
    """Given orders instead of drawn ones (``simulate.schedule``: the very orders a seeded drill
    will send): creation times (increasing), priority class, supplier product or not, whether
    the buyer pays, their patience and how often they look (0: a live stream)."""

    model_config = _FROZEN

    created_at: tuple[float, ...]
    cls: tuple[int, ...]
    supplier: tuple[bool, ...]
    pays: tuple[bool, ...]
    patience_s: tuple[float, ...]
    poll_s: tuple[float, ...]

    @model_validator(mode="after")
    def _aligned(self) -> Trace:
        n = len(self.created_at)
        if any(len(v) != n for v in (self.cls, self.supplier, self.pays, self.patience_s,
                                     self.poll_s)):
            raise ValueError("a trace needs one value per order in every column")
        if any(b < a for a, b in itertools.pairwise(self.created_at)):
            raise ValueError("trace created_at must be increasing")
        return self


HOLDING_STAGES = frozenset({"risk_check", "allocation"})
"""The stages whose transient failure the shop holds (risk check, supplier) rather than park."""


def _shop_stages() -> tuple[Stage, ...]:
    return (
        Stage(name="risk_check", service=Dist.lognormal(0.05, 0.5), holds=True),
        Stage(name="allocation", service=Dist.lognormal(0.04, 0.5), holds=True),
        Stage(name="delivery", service=Dist.lognormal(0.02, 0.5)),
        Stage(name="notification", service=Dist.lognormal(0.03, 0.5), blocks_delivery=False),
    )


class Admission(BaseModel):
    """The shop's admission control before payment (``reference_shop/admission.py``, the
    ``admission`` setting) and how refused buyers answer (``scenarios/locust/journeys.py``):
    back after the Retry-After × U(1, 1.5), at most ``busy_retries`` times, unless told to wait
    longer than ``max_wait_s`` or giving up (``busy_give_up`` at each refusal)."""

    model_config = _FROZEN

    budget_s: float = Field(1.0, gt=0)  # admission_budget(): the longest predicted wait admitted
    busy_retries: int = Field(3, ge=0)
    busy_give_up: float = Field(0.25, ge=0, le=1)
    max_wait_s: float = Field(180.0, gt=0)
    order_ttl_s: float = Field(300.0, gt=0)  # an unpaid order expires (the door's conversion)


class PipelineModel(BaseModel):
    """The reference shop's order pipeline. Give ``orders`` or ``duration_s`` for arrivals;
    ``horizon_s`` (optional) ends the run, leaving unfinished orders undelivered.
    ``arrival_times`` (optional, increasing) is a trace of creation times that replaces the
    arrivals drawn from ``arrivals`` (a calibrated replay of a run's own arrivals).
    An order whose holding stage fails is queued again after ``hold_retry_s`` × U[0.5, 1.5)
    while it was paid less than ``hold_s`` ago, as the shop does; ``hold_s=0`` parks it at once.
    With priority lanes, an order that has waited ``lane_max_wait_s`` in the queue is served
    before the lanes above it (the oldest such first), as the shop's ``WorkQueue`` does."""

    model_config = _FROZEN

    arrivals: LoadShape = LoadShape()
    arrival_times: tuple[float, ...] | None = None
    trace: Trace | None = None
    orders: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, gt=0)
    horizon_s: float | None = Field(None, gt=0)
    workers: int = Field(4, ge=1)
    hold_s: float = Field(120.0, ge=0)
    hold_retry_s: float = Field(1.0, gt=0)
    stages: tuple[Stage, ...] = Field(default_factory=_shop_stages, min_length=1)
    payment: Payment = Payment()
    classes: tuple[PriorityClass, ...] = (PriorityClass(name="standard", share=1.0),)
    priority_lanes: bool = True
    lane_max_wait_s: float | None = Field(None, gt=0)  # None: strict priority between lanes
    admission: Admission | None = None  # None: every order is accepted
    faults: tuple[Fault, ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    upstream_faults: tuple[UpstreamFault, ...] = ()
    announcements: tuple[Announcement, ...] = ()  # heard by the shop (provider_signals on)
    risk_acting: RiskActing | None = None  # delay_risk act (None: off or only observing)
    cpu: Cpu | None = None
    buyer: Buyer = Buyer()
    sla_s: float = Field(30.0, gt=0)
    window_s: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> PipelineModel:
        if (self.orders is None) == (self.duration_s is None):
            raise ValueError("give exactly one of orders and duration_s")
        times = self.arrival_times
        if times is not None and any(b < a for a, b in itertools.pairwise(times)):
            raise ValueError("arrival_times must be increasing")
        if times is not None and times and times[0] < 0:
            raise ValueError("arrival_times must be >= 0")
        if self.trace is not None and self.arrival_times is not None:
            raise ValueError("give arrival_times or a trace, not both")
        if self.trace is not None and self.trace.cls and max(self.trace.cls) >= len(self.classes):
            raise ValueError("the trace names a priority class the model does not have")
        if not math.isclose(sum(c.share for c in self.classes), 1.0):
            raise ValueError("priority class shares must sum to 1")
        if not any(s.blocks_delivery for s in self.stages):
            raise ValueError("at least one stage must block delivery")
        names = [s.name for s in self.stages] + [c.name for c in self.payment.channels]
        if len(set(names)) != len(names):
            raise ValueError("stage and channel names must be distinct")
        unknown = sorted({f.target for f in self.faults} - set(names))
        if unknown:
            raise ValueError(f"faults target unknown stages or channels: {unknown}")
        upstreams = [u.name for u in self.upstreams]
        if len(set(upstreams)) != len(upstreams):
            raise ValueError("upstream names must be distinct")
        called = {name for s in self.stages for name in s.upstreams}
        if self.payment.failover_rule == "shop":
            called |= {c.name for c in self.payment.channels}
        missing = sorted(called - set(upstreams))
        if missing:
            raise ValueError(f"stages or channels call unknown upstreams: {missing}")
        unknown = sorted({f.target for f in self.upstream_faults} - set(upstreams))
        if unknown:
            raise ValueError(f"upstream faults target unknown upstreams: {unknown}")
        unknown = sorted({a.target for a in self.announcements} - set(upstreams))
        if unknown:
            raise ValueError(f"announcements name unknown upstreams: {unknown}")
        return self

    def upstream(self, name: str) -> Upstream:
        return next(u for u in self.upstreams if u.name == name)

    @property
    def job_mean_s(self) -> float:
        """Mean worker time per order without failures (all stages)."""
        return sum(stage.service.expected for stage in self.stages)

    def offered_load(self, rate: float | None = None) -> float:
        """ρ = λ·E[job]/workers at ``rate`` (default: the peak rate)."""
        lam = self.arrivals.peak if rate is None else rate
        return lam * self.job_mean_s / self.workers

    @classmethod
    def mmc(
        cls, arrival_rate: float, service_rate: float, workers: int, orders: int
    ) -> PipelineModel:
        """The pipeline reduced to M/M/c: instant payment, one exponential stage, no retries."""
        instant = Dist.const(0.0)
        return cls(
            arrivals=LoadShape.constant(arrival_rate),
            orders=orders,
            workers=workers,
            stages=(
                Stage(name="work", service=Dist.exp(1 / service_rate), timeout_s=None, attempts=1),
            ),
            payment=Payment(
                pay_time=instant, channels=(Channel(name="pay", callback_delay=instant),)
            ),
        )
