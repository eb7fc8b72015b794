"""The one place the shop is wired together.

:func:`build_shop` makes the in-memory state, the database handle, one HTTP client per
upstream and every service, handing each service exactly what it depends on (``interfaces.py``
names those edges). :class:`Shop` is the result: what the HTTP routes call, and the lifecycle —
:meth:`Shop.start` (tables, counts, resuming the orders in flight, the status page, the loops)
and :meth:`Shop.stop`. No other module knows every service.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.trace import Tracer

from fakalab.contract.delay_risk import SHIPPED_MODEL, RiskModel, load_model
from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.traces import SHOP
from fakalab.reference_shop.admission import Admission
from fakalab.reference_shop.backoffice import Backoffice
from fakalab.reference_shop.breaker import Breaker
from fakalab.reference_shop.buyer_status import BuyerStatus
from fakalab.reference_shop.catalog import Catalog
from fakalab.reference_shop.db import Database
from fakalab.reference_shop.delay_risk import DelayRisk, FeatureLog
from fakalab.reference_shop.epay_channel import CHANNEL as EPAY
from fakalab.reference_shop.epay_channel import EpayChannel
from fakalab.reference_shop.eta import Promises
from fakalab.reference_shop.fulfilment import Fulfilment, FulfilmentUpstreams
from fakalab.reference_shop.http_transport import AiohttpTransport, Transport
from fakalab.reference_shop.metrics import ShopMetrics
from fakalab.reference_shop.monitor import Monitor
from fakalab.reference_shop.ordering import Ordering
from fakalab.reference_shop.payments import CHANNELS, Payments
from fakalab.reference_shop.receipts import Receipts
from fakalab.reference_shop.signal_feed import SignalFeed
from fakalab.reference_shop.state import ShopState
from fakalab.reference_shop.statuspage import ComponentHealth, StatusPage
from fakalab.reference_shop.tasks import Tasks
from fakalab.reference_shop.tracing import OrderContexts, Tracing, open_tracing
from fakalab.reference_shop.transitions import Transitions
from fakalab.reference_shop.upstream import Upstream

__all__ = ["Shop", "build_shop", "fulfilment_upstreams", "risk_model", "upstream_clients"]


@dataclass
class Shop:
    settings: ShopSettings
    db: Database
    state: ShopState
    http: Transport
    upstreams: dict[str, Upstream]
    tasks: Tasks
    transitions: Transitions
    buyer_status: BuyerStatus
    catalog: Catalog
    ordering: Ordering
    payments: Payments
    fulfilment: Fulfilment
    monitor: Monitor
    backoffice: Backoffice
    admission: Admission
    receipts: Receipts | None = None  # settings.receipts off: None
    tracing: Tracing | None = None  # settings.tracing off: None
    signal_feed: SignalFeed | None = None  # settings.provider_signals off: None
    risk: DelayRisk | None = None  # settings.delay_risk off: None

    async def open(self) -> None:
        """Connect and create the tables: DatabaseUnavailable (one line) if the database
        cannot be used."""
        await self.db.open()

    async def start(self) -> None:
        await self.db.create_all()
        await self.transitions.load_counts()
        resumed = await self.fulfilment.resume_in_flight()
        await self.monitor.restore_status(resumed)
        if self.receipts is not None:
            await self.receipts.open()
        self.tasks.start([*self.fulfilment.loops(), *self.payments.loops(),
                          self.monitor.loop(), self._watch_lag(),
                          *([self.receipts.loop()] if self.receipts is not None else []),
                          *([self.risk.loop()] if self.risk is not None else []),
                          *(self.signal_feed.loops() if self.signal_feed is not None else [])])

    async def _watch_lag(self) -> None:
        lag, gauge = self.admission.lag, self.state.metrics.loop_lag
        watched = asyncio.create_task(lag.loop())
        try:
            while True:
                await asyncio.sleep(1.0)
                gauge.set(lag.seconds)
        finally:
            watched.cancel()

    async def stop(self) -> None:
        await self.tasks.stop()
        if self.receipts is not None:
            await self.receipts.flush()
        await self.http.aclose()
        if self.signal_feed is not None:
            await self.signal_feed.aclose()
        await self.db.close()
        if self.risk is not None:
            self.risk.close()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # flushes the last spans


def upstream_clients(settings: ShopSettings, http: Transport, status: StatusPage,
                     metrics: ShopMetrics, rng: random.Random, tracer: Tracer | None = None
                     ) -> dict[str, Upstream]:
    """One client per upstream of ``settings.upstreams`` (and the epay gateway when
    ``epay_url`` names one): its breaker, and its health on the status page."""
    s = settings
    clients = {}
    urls = {**s.upstreams, **({EPAY: s.epay_url} if s.epay_url else {})}
    for name, url in urls.items():
        health = status.health.setdefault(name, ComponentHealth())
        health.slow_ms = s.slow_upstream_ms
        breaker = Breaker(s.breaker_threshold, s.breaker_cooldown_s, enabled=s.circuit_breaker)
        clients[name] = Upstream(name, url.rstrip("/"), http, breaker, health, metrics,
                                 s.upstream_timeout_s, s.retries, s.backoff_base_s,
                                 s.backoff_max_s, random.Random(rng.random()), tracer)
    return clients


def fulfilment_upstreams(upstreams: Mapping[str, Upstream]) -> FulfilmentUpstreams:
    return FulfilmentUpstreams(risk=upstreams["risk"], supplier_a=upstreams["supplier-a"],
                               supplier_b=upstreams["supplier-b"], notify=upstreams["notify"])


def risk_model(settings: ShopSettings) -> RiskModel | None:
    """The model ``settings`` name (ModelError, one line, if it cannot be used); the shipped
    one by default, None when there is none."""
    if settings.risk_model:
        return load_model(settings.risk_model)
    return load_model(SHIPPED_MODEL) if SHIPPED_MODEL.exists() else None


def build_shop(settings: ShopSettings, http: Transport | None = None) -> Shop:
    """The shop for ``settings``; ``http`` replaces the upstreams' transport (e.g. an
    ``HttpxTransport`` over ``httpx.MockTransport``)."""
    s = settings
    state = ShopState.fresh(s)
    database = Database(s.db_url)
    http = http or AiohttpTransport(max_connections=200)
    tracing = open_tracing(SHOP, s.trace_file, s.otlp_endpoint, s.trace_sample) \
        if s.tracing else None
    tracer = tracing.tracer if tracing is not None else None
    upstreams = upstream_clients(s, http, state.status, state.metrics, random.Random(), tracer)
    tasks = Tasks()
    promises = Promises(state.queue, state.stage_clock, state.throughput, state.status.health,
                        s.workers, s.eta_floor_s, active=state.active)
    transitions = Transitions(database, state.views, promises, state.counts, state.metrics,
                              state.throughput, state.mode)
    risk = DelayRisk(s, risk_model(s), state.queue, promises, upstreams, state.active,
                     FeatureLog(s.risk_features_log) if s.risk_features_log else None) \
        if s.delay_risk != "off" else None
    if risk is not None and not risk.on:
        risk = None  # observing with nowhere to write: nothing to do
    fulfilment = Fulfilment(database, transitions, fulfilment_upstreams(upstreams), state.queue,
                            state.active, state.stage_clock, state.metrics, s, tasks.spawn,
                            tracer=tracer, traces=OrderContexts() if tracer else None,
                            signals=state.signals, risk=risk)
    if risk is not None:
        risk.suppliers = lambda: [u.name for u in fulfilment.supplier_chain()]
    epay = EpayChannel(upstreams[EPAY], s) if EPAY in upstreams else None
    payments = Payments(database, transitions, {c: upstreams[c] for c in CHANNELS}, s,
                        state.metrics, fulfilment.enqueue, tasks.spawn, epay=epay,
                        signals=state.signals, risk=risk)
    return Shop(
        settings=s, db=database, state=state, http=http, upstreams=upstreams, tasks=tasks,
        transitions=transitions, buyer_status=BuyerStatus(state.mode, state.status),
        catalog=Catalog(database),
        ordering=Ordering(database, transitions, payments, s, state.metrics, risk=risk),
        payments=payments, fulfilment=fulfilment,
        monitor=Monitor(database, state.status, upstreams.values(), state.queue, state.views,
                        promises, state.active, s, state.metrics, state.mode,
                        signals=state.signals),
        backoffice=Backoffice(database, transitions, fulfilment.enqueue),
        admission=Admission(promises, state.counts, budget_s=s.admission_budget(),
                            max_lag_s=s.admission_max_lag_s, enabled=s.admission),
        receipts=Receipts(database, s.receipt_key) if s.receipts else None, tracing=tracing,
        signal_feed=SignalFeed(state.signals, s.status_urls(), s.provider_signals_log,
                               poll_s=s.provider_poll_s) if s.provider_signals else None,
        risk=risk)
