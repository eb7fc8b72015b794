"""The shop's calibration: what a forecast needs to know about the shop, measured on drills that
are not the one being forecast (pure: run tables in, calibration out).

From a *base* run (no fault, a light load; ``calibration/cal-base.yaml``), per order, from
``events.csv`` (each event is written at the start of its transaction, so a state lasts from
one write's start to the next; docs/simulation.md has the table):

- ``write_s``: a transition's write — the ``allocating`` state of a local product, which is one
  write (``fulfilment._step``) and nothing else;
- ``pickup_s``: the ``paid`` state with an idle worker — the payment's write, the worker's read
  of the order; it stands for the worker's read and its first write (paid → risk_check);
- ``risk_call_s``: the ``risk_check`` state less a median write: the call to the risk service;
- ``supplier_call_s``: a supplier product's ``allocating`` state less a median write;
- ``delivery_s``: the ``delivering`` state (one write); the final write (``delivered``) is never
  observed and is taken to be like ``write_s``;
- ``callback_s``: the shop's confirmation less the buyer's "I have paid";
- ``pay_time_s``: the buyer's "I have paid" less the order's creation.

From *drain* runs (``calibration/cal-drain.yaml``, ``cal-drain-long.yaml``, ``cal-surge.yaml``,
repeated: a backlog that drains while its buyers poll): the shop's CPU speed relative to the
base run (``Cpu.speed``), fitted per run so that the model, run on that drill's own orders and
faults, holds the queue the drill held second by second (``simulate.calibrating.fit_speed``),
and one CPU cost per waiting order shared by all of them; the log-normal spread of the speeds
of the runs whose queue tells the speed (``calibrating.speed_identified``: in practice the
CPU-bound ``cal-surge``) is the harness's run-to-run noise, which forecasts carry into their
intervals. Work per created order
and per delivery (placing the order and creating its payment, the buyer's "I have paid", the
notification's write) is counted as writes: 3 and 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["QUANTILES", "ShopCalibration", "Source", "base_samples", "fakalab_version",
           "quantiles"]

FloatArray = npt.NDArray[np.float64]
QUANTILES = 201
_FROZEN = ConfigDict(frozen=True, extra="forbid")


def fakalab_version() -> str:
    try:
        return metadata.version("fakalab")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0+unknown"


class Source(BaseModel):
    """One run a calibration was measured on."""

    model_config = _FROZEN

    run_id: str
    scenario: str
    role: str  # "base" or "drain"
    started_at: str  # ISO 8601, UTC
    fakalab: str | None = None
    path: str | None = None


class ShopCalibration(BaseModel):
    """Measured distributions (seconds; cut to ``QUANTILES`` quantiles) and fitted costs."""

    model_config = _FROZEN

    sources: tuple[Source, ...]
    fitted_at: str
    fakalab: str
    write_s: tuple[float, ...] = Field(min_length=1)
    pickup_s: tuple[float, ...] = Field(min_length=1)
    risk_call_s: tuple[float, ...] = Field(min_length=1)
    supplier_call_s: tuple[float, ...] = Field(min_length=1)
    delivery_s: tuple[float, ...] = Field(min_length=1)
    callback_s: tuple[float, ...] = Field(min_length=1)
    pay_time_s: tuple[float, ...] = Field(min_length=1)
    per_created_writes: float = 3.0
    per_delivery_writes: float = 1.0
    per_poll_s: float = 0.0
    per_waiting_s: float = 0.0  # CPU per second per waiting order, fitted on the drain runs
    # the shop's CPU speed (relative to the base run) that makes each drain run drain as it
    # did; forecasts draw a speed per replication from their log-normal spread
    speeds: tuple[float, ...] = ()
    speed_log_mean: float = 0.0
    speed_log_sd: float = 0.0
    fit: dict[str, Any] = Field(default_factory=dict)  # how the speeds were found

    @property
    def write_mean_s(self) -> float:
        return float(np.mean(self.write_s))

    def describe(self) -> str:
        runs = ", ".join(f"{s.run_id} ({s.role})" for s in self.sources)
        return f"calibration fitted {self.fitted_at} by fakalab {self.fakalab} from {runs}"


def quantiles(values: Sequence[float] | FloatArray, points: int = QUANTILES) -> tuple[float, ...]:
    """An empirical distribution kept as ``points`` quantiles (all values when fewer)."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if not len(array):
        return (0.0,)
    if len(array) <= points:
        return tuple(float(v) for v in np.sort(array))
    return tuple(float(v) for v in np.quantile(array, np.linspace(0, 1, points)))


def _durations(events: pd.DataFrame) -> pd.DataFrame:
    """Per event: okey, oid, state, at and the time until the order's next event."""
    ev = events.sort_values(["okey", "seq"], kind="stable")
    okey = ev["okey"].to_numpy()
    at = ev["at"].to_numpy(dtype=float)
    has_next = np.append(okey[1:] == okey[:-1], False)
    duration = np.where(has_next, np.append(at[1:] - at[:-1], np.nan), np.nan)
    return pd.DataFrame({"okey": okey, "oid": ev["oid"].to_numpy(), "state":
                         ev["state"].astype(str).to_numpy(), "at": at, "duration": duration})


def base_samples(
    orders: pd.DataFrame, events: pd.DataFrame, kinds: Callable[[str], str],
    quiet: Callable[[FloatArray], npt.NDArray[np.bool_]] | None = None,
) -> dict[str, tuple[float, ...]]:
    """The measured distributions of a base run (``orders`` with ``product_id``,
    ``created_at``, ``paid_at`` = the buyer's view, ``shop_paid_at``, ``buyer_paid_at``;
    ``events`` with ``okey``, ``oid``, ``seq``, ``at``, ``state``). ``kinds`` maps a product to
    "local" or "supplier"; ``quiet`` keeps the samples taken outside fault windows."""
    d = _durations(events)
    d = d[np.isfinite(d["duration"]) & (d["oid"] >= 0)]
    if quiet is not None:
        d = d[quiet(d["at"].to_numpy())]
    product = orders["product_id"].astype(str).to_numpy()
    kind = np.array([kinds(p) for p in product[d["oid"].to_numpy()]]) if len(d) else np.array([])

    def of(state: str, which: str | None = None) -> FloatArray:
        mask = d["state"].to_numpy() == state
        if which is not None:
            mask &= kind == which
        return np.maximum(d["duration"].to_numpy()[mask], 0.0)

    write = of("allocating", "local")
    if not len(write):
        write = of("delivering")
    median = float(np.median(write)) if len(write) else 0.0
    supplier = of("allocating", "supplier")
    paid = orders["buyer_paid_at"].to_numpy(dtype=float)
    shop = orders["shop_paid_at"].to_numpy(dtype=float)
    created = orders["created_at"].to_numpy(dtype=float)
    both = np.isfinite(paid) & np.isfinite(shop)
    return {
        "write_s": quantiles(write),
        "pickup_s": quantiles(of("paid")),
        "risk_call_s": quantiles(np.maximum(of("risk_check") - median, 0.0)),
        "supplier_call_s": quantiles(np.maximum(supplier - median, 0.0)) if len(supplier)
        else (0.0,),
        "delivery_s": quantiles(of("delivering")),
        "callback_s": quantiles(np.maximum(shop[both] - paid[both], 0.0)),
        "pay_time_s": quantiles(np.maximum(paid[np.isfinite(paid)] - created[np.isfinite(paid)],
                                           0.0)),
    }


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
