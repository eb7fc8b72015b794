"""Delay risk in the shop (docs/prediction.md): an order's live features at each scoring point,
its score by the loaded model, the feature log, and the three actions the shop takes on it.

Features come from the shop's live state only — the queue and its trend, the throughput, the
busy workers, each upstream's latency, error rate and breaker, the order's channel, supplier and
priority — and are written to ``risk_features_log`` (the run directory's risk_features.csv) as
they were at the moment of scoring: what the trainer learns from is what the shop saw.

With ``delay_risk: act`` and a model: a buyer whose order is at risk is warned before paying
(``Ordering``), the first channel or supplier is passed over for the other when the order's
risk through it is high and lower through the other (:meth:`DelayRisk.prefer`), and a paid
order at risk is served first within its lane (``urgent`` in ``queue.py``).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from fakalab.contract.delay_risk import RISK_FEATURE_COLUMNS, QueueTrend, RiskModel
from fakalab.contract.shop_settings import ShopSettings
from fakalab.reference_shop.eta import Promises
from fakalab.reference_shop.interfaces import Clock, UpstreamClient
from fakalab.reference_shop.queue import WorkQueue
from fakalab.reference_shop.states import OrderState
from fakalab.reference_shop.storage.rows import OrderRow

__all__ = ["DelayRisk", "FeatureLog", "Subject"]

log = logging.getLogger("fakalab.delay_risk")
U = TypeVar("U", bound=UpstreamClient)
_ETA_STATE = {"created": OrderState.PAID, "paid": OrderState.PAID,
              "risk_check": OrderState.RISK_CHECK, "allocating": OrderState.ALLOCATING,
              "delivering": OrderState.DELIVERING}
_BREAKER = {0: 0.0, 1: 0.5, 2: 1.0}
_NONE = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Subject:
    """What the features need to know of one order."""

    order_no: str
    priority: int
    supplier_product: bool
    channel: str | None
    paid_at: float | None  # the earlier of the shop's confirmation and the buyer's word

    @classmethod
    def of(cls, order: OrderRow, channel: str | None = None) -> Subject:
        paid = [t for t in (order.paid_at, order.buyer_paid_at) if t]
        return cls(order.order_no, order.priority, order.kind == "supplier",
                   channel or order.channel, min(paid) if paid else None)


class FeatureLog:
    """risk_features.csv, appended to: a header when the file is new; buffered, flushed once a
    second by the shop's loop and at its stop. After a crash (SIGKILL) the file may end inside
    a row: the restarted shop ends that line first, and the trainer skips it."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        torn = not new and _last_byte(path) != b"\n"
        self._file: IO[str] = open(path, "a", newline="", buffering=1 << 16)  # noqa: SIM115
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(RISK_FEATURE_COLUMNS)
        elif torn:
            self._file.write("\n")

    def write(self, row: Sequence[object]) -> None:
        self._csv.writerow(row)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1)


class DelayRisk:
    def __init__(self, settings: ShopSettings, model: RiskModel | None, queue: WorkQueue,
                 promises: Promises, upstreams: Mapping[str, UpstreamClient],
                 active: Collection[str], feature_log: FeatureLog | None = None,
                 clock: Clock = time.time) -> None:
        self.settings = settings
        self.model = model
        self.queue = queue
        self.promises = promises
        self.upstreams = upstreams
        self.active = active
        self.feature_log = feature_log
        self.clock = clock
        self.acting = settings.delay_risk == "act" and model is not None
        self.on = settings.delay_risk != "off" and (feature_log is not None or self.acting)
        # the supplier an order would be sent to now, first (Fulfilment's chain, wired in)
        self.suppliers: Callable[[], Sequence[str]] = lambda: ("supplier-a",)
        self.urgent: set[str] = set()
        self._acted: dict[str, list[str]] = {}  # actions to note on the order's next row
        self._trend = QueueTrend()

    # -- features and score ------------------------------------------------------------------
    def _upstream(self, name: str | None, now: float) -> tuple[float, float, float]:
        upstream = self.upstreams.get(name) if name else None
        if upstream is None:
            return _NONE
        health = upstream.health
        return (health.mean_latency_ms(now) / 1000, health.error_rate(now),
                _BREAKER.get(upstream.breaker.code(), 0.0))

    def supplier_of(self, subject: Subject) -> str | None:
        return self.suppliers()[0] if subject.supplier_product else None

    def features(self, stage: str, subject: Subject, now: float, *, channel: str | None = None,
                 supplier: str | None = None) -> list[float]:
        """FEATURES of ``subject`` at ``stage`` (``channel``/``supplier``: as if through these)."""
        sla = self.settings.sla_s
        sla_left = sla - (now - subject.paid_at) if subject.paid_at else sla
        eta = self.promises.eta_for(subject.order_no, _ETA_STATE[stage], now, subject.priority)
        wait = max(eta - now, 0.0) if eta is not None else 0.0
        depth = len(self.queue)
        throughput = self.promises.throughput.rate(now) or 0.0
        if supplier is None and subject.supplier_product:
            supplier = self.supplier_of(subject)
        return [sla_left, wait, wait / max(sla_left, 1.0), float(depth),
                self._trend.trend(now, depth), throughput,
                len(self.active) / max(self.settings.workers, 1),
                1.0 if subject.paid_at else 0.0, float(subject.priority),
                1.0 if subject.supplier_product else 0.0,
                *self._upstream(channel or subject.channel, now),
                *self._upstream(supplier, now), *self._upstream("risk", now)]

    def score(self, values: Sequence[float]) -> float | None:
        return self.model.probability(values) if self.model is not None else None

    def assess(self, stage: str, subject: Subject, now: float | None = None, *,
               supplier: str | None = None) -> float | None:
        """Score ``subject`` at ``stage`` and log the row; None when off or with no model."""
        if not self.on:
            return None
        now = self.clock() if now is None else now
        if supplier is None:
            supplier = self.supplier_of(subject)
        values = self.features(stage, subject, now, supplier=supplier)
        risk = self.score(values)
        if self.feature_log is not None:
            action = ";".join(self._acted.pop(subject.order_no, ()))
            self.feature_log.write([f"{now:.3f}", subject.order_no, stage,
                                    subject.channel or "", supplier or "",
                                    *(f"{v:.6g}" for v in values),
                                    "" if risk is None else f"{risk:.6f}", action])
        return risk

    # -- actions -------------------------------------------------------------------------------
    def note(self, order_no: str, action: str) -> None:
        if self.feature_log is not None:
            self._acted.setdefault(order_no, []).append(action)

    def warns(self, risk: float | None) -> bool:
        """Is the buyer to be warned before paying?"""
        return self.acting and risk is not None and risk >= self.settings.risk_warn_at

    def paid(self, subject: Subject, now: float | None = None) -> float | None:
        """The paid scoring point: an order at risk goes first within its lane."""
        risk = self.assess("paid", subject, now)
        if self.acting and risk is not None and risk >= self.settings.risk_act_at:
            self.urgent.add(subject.order_no)
            self.note(subject.order_no, "urgent")
        return risk

    def is_urgent(self, order_no: str) -> bool:
        return order_no in self.urgent

    def done(self, order_no: str) -> None:
        self.urgent.discard(order_no)
        self._acted.pop(order_no, None)

    def prefer(self, chain: list[U], subject: Subject, stage: str, role: str) -> list[U]:
        """``chain`` with its first two swapped when, through the first, the order's risk is at
        least ``risk_act_at`` and through the second it is lower (``role``: channel or
        supplier). Unchanged unless acting."""
        if not self.acting or len(chain) < 2:
            return chain
        now = self.clock()
        through = [self.score(self.features(
            stage, subject, now, channel=u.name if role == "channel" else None,
            supplier=u.name if role == "supplier" else None)) for u in chain[:2]]
        first, second = through
        if first is None or second is None or first < self.settings.risk_act_at or \
                second >= first:
            return chain
        self.note(subject.order_no, f"steered:{chain[1].name}")
        return [chain[1], chain[0], *chain[2:]]

    async def loop(self) -> None:
        """Flush the feature log once a second."""
        while True:
            await asyncio.sleep(1.0)
            if self.feature_log is not None:
                try:
                    self.feature_log.flush()
                except OSError:
                    log.exception("cannot write the risk features")

    def close(self) -> None:
        if self.feature_log is not None:
            self.feature_log.close()
