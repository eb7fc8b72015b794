"""The shop's settings: one validated model, read from arguments and FAKALAB_SHOP_* variables."""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fakalab.contract.services import default_urls
from fakalab.contract.stages import Transparency

__all__ = ["ShopSettings"]


class ShopSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAKALAB_SHOP_", extra="forbid")

    db_url: str = "sqlite:///fakalab-shop.db"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    public_url: str | None = Field(
        None, description="Base URL the payment provider calls back (default: host and port)."
    )
    upstreams: dict[str, str] = Field(default_factory=default_urls)
    payment_secrets: dict[str, str] = Field(
        default_factory=lambda: {"payment-a": "fakalab-secret-a", "payment-b": "fakalab-secret-b"}
    )
    admin_token: str = Field(default_factory=lambda: secrets.token_urlsafe(18))

    # Capacity and behaviour levers.
    workers: int = Field(4, ge=1, le=512)
    transparency: Transparency = Transparency.TRANSPARENT
    circuit_breaker: bool = True
    failover: bool = True
    reconciliation: bool = True
    priority_lanes: bool = True
    lane_max_wait_s: float | None = Field(
        None, gt=0, description="An order of a later priority lane that has waited this long is "
        "served before the lanes above it (default: a third of sla_s): strict priority starves "
        "the last lane under overload — 46 s at the 99th percentile in bench/bench_overload.py.")
    admission: bool = Field(
        True, description="Admission control before payment (reference_shop/admission.py): "
        "refuse a new order with 503 and Retry-After while the predicted delivery time of an "
        "order placed now exceeds admission_budget_s, or the event loop lags; false: accept "
        "every order (the collapse it prevents).")
    admission_budget_s: float | None = Field(
        None, gt=0, description="Longest predicted wait for a worker (after payment) at which "
        "a new order is still accepted (default: a tenth of sla_s, at most 1 s — a short queue "
        "of waiting, refreshing buyers leaves the shop's CPU to delivery; "
        "bench/bench_overload.py).")
    admission_max_lag_s: float = Field(
        0.25, gt=0, description="Event-loop lag (the median of the last nine 50 ms probes) "
        "above which new orders are refused.")
    receipts: bool = Field(True, description="Verifiable receipts (docs/receipts.md): log every "
                           "order event in a Merkle log and publish its signed head each second.")
    tracing: bool = Field(False, description="OpenTelemetry spans of order creation, the "
                          "payment callback, each fulfilment stage and each upstream call, "
                          "continuing a buyer's W3C traceparent and passing it on "
                          "(docs/tracing.md); a drill turns it on.")
    trace_file: str | None = Field(None, description="Where spans go as OTLP JSON lines "
                                   "(a drill: traces/shop.jsonl in the run directory).")
    otlp_endpoint: str | None = Field(None, description="An OTLP/HTTP collector (e.g. "
                                      "http://127.0.0.1:4318) that gets the spans too.")
    trace_sample: float = Field(1.0, ge=0, le=1, description="Share of the traces the shop "
                                "starts itself (a request with a traceparent keeps its own "
                                "sampling decision).")
    trace_rate: float = Field(100.0, ge=0, description="At most this many journeys a second "
                              "start a sampled trace in a drill, across its generators (0: no "
                              "cap): below it every journey of trace_sample is traced, above "
                              "it tracing's cost stays bounded (scenarios/trace_sampler.py).")
    receipt_key: str | None = Field(None, description="PEM file of the Ed25519 key that signs "
                                    "the receipt log (created when missing); default: a key "
                                    "kept in the shop's database.")

    provider_signals: bool = Field(
        False, description="Subscribe to the providers' status pages (their Statuspage "
        "summary.json and push, docs/shop.md#provider-signals): their incidents show on the "
        "status page, attributed, and failover steers away from a channel or supplier that "
        "announces a partial or major outage before the breaker opens.")
    provider_status_urls: dict[str, str] = Field(
        default_factory=dict, description="Where each provider's status page is (default: "
        "its API's URL in upstreams); a drill gives the upstreams' own addresses, not the "
        "proxied ones: a status page is hosted apart from the API it reports on.")
    provider_signals_log: str | None = Field(
        None, description="CSV file the received provider news is appended to.")
    provider_poll_s: float = Field(5.0, gt=0, description="How often summary.json is polled "
                                   "(the fallback of the push).")

    # Delay risk (docs/prediction.md): a model's probability that an order misses its SLA.
    delay_risk: Literal["off", "observe", "act"] = Field(
        "observe", description="observe: log each order's live features (and its score, with a "
        "model) at creation, payment and each stage to risk_features_log, changing nothing; "
        "act: also warn a buyer before payment, steer to the healthier channel or supplier and "
        "serve at-risk paid orders first within their lane; off: nothing.")
    risk_model: str | None = Field(None, description="The model file (`fakalab model train`); "
                                   "default: the one shipped, contract/models/delay-risk.json.")
    risk_warn_at: float = Field(0.5, gt=0, le=1, description="Risk at which a buyer is warned "
                                "before payment (act): more likely late than not.")
    risk_act_at: float = Field(0.05, gt=0, le=1, description="Risk at which a paid order goes "
                               "first in its lane, and at which, through the first channel or "
                               "supplier, the other is used when its risk is lower (act); the "
                               "default is the built-in scenarios' delay-rate SLO.")
    risk_features_log: str | None = Field(None, description="CSV file the features are "
                                          "appended to (a drill: risk_features.csv).")

    # Timing.
    order_ttl_s: float = Field(300.0, gt=0)
    late_window_s: float = Field(600.0, ge=0)
    reconcile_after_paid_s: float = Field(5.0, gt=0)
    reconcile_after_created_s: float = Field(60.0, gt=0)
    reconcile_interval_s: float = Field(1.0, gt=0)
    sweep_interval_s: float = Field(5.0, gt=0)
    stall_after_s: float = Field(30.0, gt=0)
    upstream_timeout_s: float = Field(2.0, gt=0)
    retries: int = Field(3, ge=1, le=20)
    backoff_base_s: float = Field(0.1, ge=0)
    backoff_max_s: float = Field(2.0, ge=0)
    hold_s: float = Field(
        120.0, ge=0, description="How long a paid order whose risk check or supplier fails keeps "
        "being retried before it is parked for a person (needs_attention); 0: park at once.")
    hold_retry_s: float = Field(1.0, gt=0, description="About how often a held order retries.")
    breaker_threshold: int = Field(5, ge=1)
    breaker_cooldown_s: float = Field(5.0, gt=0)
    slow_upstream_ms: float = Field(500.0, gt=0)
    eta_floor_s: float = Field(5.0, ge=0, description="Shortest ETA promised to a buyer.")
    sse_keepalive_s: float = Field(5.0, gt=0)
    lookup_rate_per_min: int = Field(10, ge=1)
    max_body_bytes: int = Field(16_384, ge=256)
    max_admin_body_bytes: int = Field(
        8 * 1024 * 1024, ge=256, description="Body limit of the admin routes: a restock may "
        "carry 10,000 keys of up to 500 characters (about 5 MB); the admin token is checked "
        "before the body is read.")
    # Connection limits (reference_shop/guard.py, docs/security.md).
    max_connections: int = Field(
        4096, ge=16, description="Open connections; above it the longest-idle one is closed "
        "(never more than the process's open-file limit allows).")
    max_header_bytes: int = Field(16_384, ge=1024, description="Request line and headers.")
    max_headers: int = Field(100, ge=8, description="Header fields of one request.")
    header_timeout_s: float = Field(
        10.0, gt=0, description="A request's line and headers must arrive within this of the "
        "connection opening or of the previous response (idle and trickling clients).")
    sla_s: float = Field(30.0, gt=0)
    demo_keys: int = Field(2000, ge=0, le=1_000_000, description="Card keys of each local "
                           "product the demo catalog (--demo) stocks: a flash sale needs more.")

    # Which payment path new orders take: channel A with failover to B (the default), or an
    # 易支付 (epay) gateway (reference_shop/epay_channel.py, docs/shop.md).
    payment_channel: Literal["ab", "epay"] = "ab"
    epay_url: str | None = Field(None, description="Base URL of the epay gateway (mapi.php, "
                                 "api.php); needed when payment_channel is epay.")
    epay_pid: str = Field("1000", min_length=1, description="The shop's merchant id (pid).")
    epay_key: str = Field("fakalab-epay-key", min_length=1,
                          description="The merchant key: signs requests and notifications.")
    epay_type: str = Field("alipay", min_length=1, description="The epay payment `type`.")

    @model_validator(mode="after")
    def _epay_has_a_gateway(self) -> ShopSettings:
        if self.payment_channel == "epay" and not self.epay_url:
            raise ValueError("payment_channel epay needs epay_url (the gateway's base URL)")
        return self

    def lane_max_wait(self) -> float:
        return self.lane_max_wait_s if self.lane_max_wait_s is not None else self.sla_s / 3

    def admission_budget(self) -> float:
        if self.admission_budget_s is not None:
            return self.admission_budget_s
        return min(self.sla_s / 10, 1.0)

    def status_urls(self) -> dict[str, str]:
        """The status page of each upstream the shop subscribes to."""
        return {name: self.provider_status_urls.get(name, url)
                for name, url in self.upstreams.items()}

    def callback_base(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
