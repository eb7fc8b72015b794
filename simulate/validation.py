"""Validation of the fast M/M/c path against Erlang C and Cobham's priority formula (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakalab.simulate import erlang
from fakalab.simulate.mmc import MMcModel, MMcReport, run_mmc
from fakalab.simulate.stats import Estimate

__all__ = [
    "PRIORITY_SHARES",
    "VALIDATION_ORDERS",
    "Check",
    "analytic_figures",
    "mmc_comparison",
    "validate_mmc",
    "validate_priorities",
    "validation_plan",
    "validation_suite",
]

Progress = Callable[[int, int], None]

# Orders per utilisation: enough for batch-means half-widths near ±2.5% of Wq.
VALIDATION_ORDERS: dict[float, int] = {
    0.5: 6_000_000,
    0.8: 3_000_000,
    0.9: 5_000_000,
    0.95: 10_000_000,
}
PRIORITY_SHARES = (0.2, 0.3, 0.5)
PRIORITY_RHO, PRIORITY_ORDERS = 0.9, 2_000_000
MEAN_TOLERANCE = 0.03  # relative, on mean waits
PROBABILITY_TOLERANCE = 0.01  # absolute, on probabilities


@dataclass(frozen=True)
class Check:
    """One simulated figure next to its theoretical value."""

    rho: float
    figure: str
    orders: int
    simulated: Estimate
    analytic: float
    relative: bool

    @property
    def error(self) -> float:
        diff = self.simulated.mean - self.analytic
        return diff / self.analytic if self.relative else diff

    @property
    def tolerance(self) -> float:
        return MEAN_TOLERANCE if self.relative else PROBABILITY_TOLERANCE

    @property
    def passed(self) -> bool:
        return abs(self.error) <= self.tolerance


def analytic_figures(model: MMcModel, t: float) -> dict[str, float] | None:
    """Erlang C figures of a single-class model, or None when it is unstable."""
    lam, mu, c = model.arrival_rate, model.service_rate, model.servers
    if model.utilisation >= 1:
        return None
    return {
        "mean_wait": erlang.mmc_mean_wait(lam, mu, c),
        "p_wait": erlang.erlang_c(lam, mu, c),
        "p_wait_gt_t": erlang.mmc_p_wait_gt(lam, mu, c, t),
    }


def mmc_comparison(report: MMcReport) -> dict[str, Any]:
    """The JSON document of ``fakalab simulate mmc`` (stable keys)."""
    return {
        "mean_wait": report.mean_wait.mean,
        "mean_wait_ci": report.mean_wait.as_list(),
        "p_wait": report.p_wait.mean,
        "p_wait_ci": report.p_wait.as_list(),
        "p_wait_gt_t": report.p_wait_gt_t.mean,
        "p_wait_gt_t_ci": report.p_wait_gt_t.as_list(),
        "t": report.t,
        "analytic": analytic_figures(report.model, report.t),
        "utilisation": report.utilisation,
        "orders": report.model.orders,
        "seed": report.seed,
        "elapsed_s": report.elapsed_s,
        "orders_per_s": report.orders_per_s,
    }


def _model(rho: float, orders: int, servers: int, shares: tuple[float, ...]) -> MMcModel:
    return MMcModel(rho * servers, 1.0, servers, orders, shares)


def validate_mmc(
    rho: float,
    orders: int,
    *,
    seed: int = 1,
    servers: int = 10,
    t: float = 1.0,
    progress: Progress | None = None,
) -> list[Check]:
    """Wq, P(Wq > 0) and P(Wq > t) of M/M/c (μ = 1) against Erlang C."""
    report = run_mmc(_model(rho, orders, servers, (1.0,)), seed, t=t, progress=progress)
    theory = analytic_figures(report.model, t)
    assert theory is not None
    return [
        Check(rho, "mean_wait", orders, report.mean_wait, theory["mean_wait"], True),
        Check(rho, "p_wait", orders, report.p_wait, theory["p_wait"], False),
        Check(rho, f"p_wait_gt_{t:g}", orders, report.p_wait_gt_t, theory["p_wait_gt_t"], False),
    ]


def validate_priorities(
    rho: float,
    orders: int,
    *,
    seed: int = 1,
    servers: int = 10,
    shares: tuple[float, ...] = PRIORITY_SHARES,
    progress: Progress | None = None,
) -> list[Check]:
    """Per-class mean waits of non-pre-emptive priority M/M/c against Cobham's formula."""
    model = _model(rho, orders, servers, shares)
    report = run_mmc(model, seed, progress=progress)
    rates = [model.arrival_rate * share for share in shares]
    theory = erlang.priority_mean_waits(rates, model.service_rate, servers)
    return [
        Check(rho, f"mean_wait_class_{k}", orders, estimate, value, True)
        for k, (estimate, value) in enumerate(zip(report.class_mean_waits, theory, strict=True))
    ]


def validation_plan(scale: float = 1.0) -> list[tuple[str, float, int]]:
    """(kind, ρ, orders) of every validation run; ``scale`` multiplies the order counts."""
    plan = [("erlang_c", rho, int(orders * scale)) for rho, orders in VALIDATION_ORDERS.items()]
    return [*plan, ("priority", PRIORITY_RHO, int(PRIORITY_ORDERS * scale))]


def validation_suite(
    *, seed: int = 1, scale: float = 1.0, progress: Progress | None = None
) -> list[Check]:
    """Every check of the validation table; ``progress`` sees orders done over all runs."""
    plan = validation_plan(scale)
    total, done = sum(orders for _, _, orders in plan), 0
    checks: list[Check] = []
    for kind, rho, orders in plan:

        def step(k: int, _n: int, before: int = done) -> None:
            if progress is not None:
                progress(before + k, total)

        run = validate_mmc if kind == "erlang_c" else validate_priorities
        checks += run(rho, orders, seed=seed, progress=step)
        done += orders
    return checks
