"""What the shop keeps in memory, and nothing else: order views, the fulfilment queue and the
orders being worked on, stage times and throughput, the status page, counters, rate limits.
The services (wired in ``composition.py``) are each given the parts they use."""

from __future__ import annotations

from dataclasses import dataclass, field

from fakalab.contract.shop_settings import ShopSettings
from fakalab.contract.stages import Transparency
from fakalab.reference_shop.eta import StageClock, Throughput
from fakalab.reference_shop.metrics import OrderCounts, ShopMetrics
from fakalab.reference_shop.provider_signals import ProviderSignals
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.ratelimit import RateLimiter
from fakalab.reference_shop.statuspage import StatusPage
from fakalab.reference_shop.views import ViewCache

__all__ = ["COMPONENTS", "ShopState"]

COMPONENTS = ["payment-a", "payment-b", "supplier-a", "supplier-b", "risk", "notify", "fulfilment"]


@dataclass
class ShopState:
    mode: Transparency
    metrics: ShopMetrics
    views: ViewCache
    queue: WorkQueue
    status: StatusPage
    token_limiter: RateLimiter
    lookup_limiter: RateLimiter  # per e-mail: the guesses on one account
    lookup_address_limiter: RateLimiter  # per client address: the work one client causes
    counts: OrderCounts
    stage_clock: StageClock = field(default_factory=StageClock)
    throughput: Throughput = field(default_factory=Throughput)
    active: set[str] = field(default_factory=set)  # orders a worker is on now
    signals: ProviderSignals = field(default_factory=ProviderSignals)  # what providers say

    @classmethod
    def fresh(cls, settings: ShopSettings) -> ShopState:
        metrics = ShopMetrics()
        return cls(mode=Transparency(settings.transparency), metrics=metrics,
                   views=ViewCache(), queue=WorkQueue(lanes=settings.priority_lanes,
                                                     max_wait_s=settings.lane_max_wait()),
                   status=StatusPage(COMPONENTS),
                   token_limiter=RateLimiter(settings.lookup_rate_per_min * 3),
                   lookup_limiter=RateLimiter(settings.lookup_rate_per_min),
                   lookup_address_limiter=RateLimiter(settings.lookup_rate_per_min * 30),
                   counts=OrderCounts(metrics.orders),
                   signals=ProviderSignals(enabled=settings.provider_signals))
