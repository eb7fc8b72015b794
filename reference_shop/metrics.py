"""Prometheus metrics of one shop instance (its own registry, so tests can run several shops)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["OrderCounts", "ShopMetrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ShopMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.orders = Gauge("fakalab_orders", "Orders by state", ["state"], registry=r)
        self.transitions = Counter("fakalab_order_transitions_total", "State transitions",
                                   ["state"], registry=r)
        self.stage_seconds = Histogram("fakalab_stage_seconds", "Time spent per stage",
                                       ["stage"], buckets=_BUCKETS, registry=r)
        self.paid_to_delivered = Histogram("fakalab_paid_to_delivered_seconds",
                                           "Paid to delivered", buckets=_BUCKETS, registry=r)
        self.upstream_seconds = Histogram("fakalab_upstream_seconds", "Upstream call latency",
                                          ["upstream"], buckets=_BUCKETS, registry=r)
        self.upstream_calls = Counter("fakalab_upstream_calls_total", "Upstream calls",
                                      ["upstream", "outcome"], registry=r)
        self.queue_depth = Gauge("fakalab_queue_depth", "Paid orders waiting for a worker",
                                 registry=r)
        self.breaker = Gauge("fakalab_breaker_state", "0 closed, 1 half-open, 2 open",
                             ["upstream"], registry=r)
        self.callbacks = Counter("fakalab_payment_callbacks_total", "Callback attempts",
                                 ["source", "outcome"], registry=r)
        self.db_writes = Gauge("fakalab_db_writes", "Units of work the writer ran so far",
                               registry=r)
        self.db_write_wait = Gauge("fakalab_db_write_wait_seconds",
                                   "Total time units waited in the writer's queue", registry=r)
        self.db_write_hold = Gauge("fakalab_db_write_hold_seconds",
                                   "Total time the writer spent running units and commits",
                                   registry=r)
        self.db_groups = Gauge("fakalab_db_groups", "Commits of the writer (groups of units)",
                               registry=r)
        self.tickets = Counter("fakalab_support_tickets_total", "Support tickets", ["reason"],
                               registry=r)
        self.refused = Counter("fakalab_connections_refused_total",
                               "Connections the server closed or refused (reference_shop/guard)",
                               ["reason"], registry=r)
        self.admission_refused = Counter(
            "fakalab_orders_refused_total", "New orders refused by admission control "
            "(reference_shop/admission.py)", ["reason"], registry=r)
        self.admission_predicted = Gauge(
            "fakalab_admission_predicted_seconds", "Predicted paid-to-delivered time of an "
            "order placed now, at the last admission decision", registry=r)
        self.loop_lag = Gauge("fakalab_event_loop_lag_seconds",
                              "How late the shop's event loop runs (smoothed)", registry=r)
        self.held = Counter("fakalab_orders_held_total",
                            "Times an order was kept in its stage to retry a failing dependency",
                            registry=r)

    def database(self, writes: int, wait_s: float, hold_s: float, groups: int = 0) -> None:
        self.db_groups.set(groups)
        self.db_writes.set(writes)
        self.db_write_wait.set(wait_s)
        self.db_write_hold.set(hold_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class OrderCounts:
    """Orders per state, kept in step with the ``fakalab_orders`` gauge."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self.by_state: dict[str, int] = {}
        # (from, to) -> orders that moved so since start-up (from None: a new order)
        self.flows: dict[tuple[str | None, str], int] = {}
        self.time_to_pay_s = 1.0  # smoothed seconds from placing an order to its payment

    def paid_after(self, seconds: float) -> None:
        """An order was paid `seconds` after it was placed."""
        self.time_to_pay_s += 0.1 * (max(seconds, 0.0) - self.time_to_pay_s)

    def load(self, counts: dict[str, int]) -> None:
        """The counts stored at start-up."""
        self.by_state = dict(counts)
        for state, n in counts.items():
            self._gauge.labels(state).set(n)

    def moved(self, previous: str | None, state: str) -> None:
        """One order left ``previous`` (None: a new order) and entered ``state``."""
        self.flows[previous, state] = self.flows.get((previous, state), 0) + 1
        if previous is not None:
            self.by_state[previous] = self.by_state.get(previous, 1) - 1
            self._gauge.labels(previous).set(self.by_state[previous])
        self.by_state[state] = self.by_state.get(state, 0) + 1
        self._gauge.labels(state).set(self.by_state[state])
