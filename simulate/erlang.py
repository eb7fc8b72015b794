"""Queueing theory for validation: Erlang C (M/M/c) and non-pre-emptive priorities (Cobham).

All rates are per unit of time; ``servers`` is c; the offered load is a = λ/μ and the
utilisation ρ = λ/(cμ). Formulas hold for a stable system (ρ < 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "erlang_b",
    "erlang_c",
    "mmc_mean_wait",
    "mmc_p_wait_gt",
    "priority_mean_waits",
    "utilisation",
]


def utilisation(arrival_rate: float, service_rate: float, servers: int) -> float:
    """ρ = λ/(cμ)."""
    return arrival_rate / (servers * service_rate)


def _check_stable(arrival_rate: float, service_rate: float, servers: int) -> None:
    if servers < 1 or service_rate <= 0 or arrival_rate < 0:
        raise ValueError("need servers >= 1, service_rate > 0 and arrival_rate >= 0")
    if utilisation(arrival_rate, service_rate, servers) >= 1:
        raise ValueError("unstable: utilisation λ/(cμ) must be below 1 for steady-state formulas")


def erlang_b(servers: int, offered_load: float) -> float:
    """Blocking probability of M/M/c/c (stable recursion over c)."""
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    return blocking


def erlang_c(arrival_rate: float, service_rate: float, servers: int) -> float:
    """P(wait > 0) in M/M/c: the probability that an arrival finds all servers busy."""
    _check_stable(arrival_rate, service_rate, servers)
    a = arrival_rate / service_rate
    blocking = erlang_b(servers, a)
    return servers * blocking / (servers - a * (1 - blocking))


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Wq = C / (cμ − λ): mean time in queue before service."""
    c_prob = erlang_c(arrival_rate, service_rate, servers)
    return c_prob / (servers * service_rate - arrival_rate)


def mmc_p_wait_gt(arrival_rate: float, service_rate: float, servers: int, t: float) -> float:
    """P(Wq > t) = C · exp(−(cμ − λ) t) for t ≥ 0."""
    c_prob = erlang_c(arrival_rate, service_rate, servers)
    return c_prob * math.exp(-(servers * service_rate - arrival_rate) * t)


def priority_mean_waits(
    arrival_rates: Sequence[float], service_rate: float, servers: int
) -> list[float]:
    """Mean queue wait per class in M/M/c with non-pre-emptive priorities (class 0 first).

    Cobham's formula for equal service rates: W_k = W0 / ((1 − σ_{k−1})(1 − σ_k)) with
    σ_k = Σ_{i≤k} λ_i/(cμ) and W0 = C(c, a)/(cμ), the mean time until some server frees.
    """
    total = sum(arrival_rates)
    w0 = erlang_c(total, service_rate, servers) / (servers * service_rate)
    waits: list[float] = []
    sigma_before = 0.0
    for rate in arrival_rates:
        sigma = sigma_before + rate / (servers * service_rate)
        waits.append(w0 / ((1 - sigma_before) * (1 - sigma)))
        sigma_before = sigma
    return waits
