"""``fakalab upstreams``: run the shop's upstream services on loopback until SIGINT/SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fakalab.contract.services import (
    DEFAULT_HOST,
    DEFAULT_PORT_BASE,
    DEFAULT_SECRETS,
    PORTS,
    parse_only,
)

__all__ = ["upstreams"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _only(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str]:
    try:
        return parse_only(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _ports(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
           ) -> dict[str, int]:
    ports: dict[str, int] = {}
    for item in values:
        name, _, port = item.partition("=")
        if name not in PORTS or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter(f"{item!r} is not NAME=PORT with NAME one of "
                                     f"{', '.join(PORTS)}")
        ports[name] = int(port)
    return ports


def _print_urls(urls: dict[str, str]) -> None:
    width = max(len(name) for name in urls)
    for name, url in urls.items():
        click.echo(f"{name.ljust(width)}  {url}")
    sys.stdout.flush()


@click.command("upstreams")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port-base",
    type=click.IntRange(1, 65535 - max(PORTS.values())),
    default=DEFAULT_PORT_BASE,
    show_default=True,
    help="Services listen on port-base + 1 … + 7 (payment-a, payment-b, supplier-a, "
    "supplier-b, risk, notify, and epay when --only names it).",
)
@click.option("--only", callback=_only, help="Comma-separated subset, e.g. payment-a,risk; "
              "epay (the 易支付 gateway) runs only when named here.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault dice.")
@click.option(
    "--secret-a",
    envvar="FAKALAB_PAYMENT_SECRET_A",
    default=DEFAULT_SECRETS["payment-a"],
    show_envvar=True,
    help="Signing secret of payment channel A.",
)
@click.option(
    "--secret-b",
    envvar="FAKALAB_PAYMENT_SECRET_B",
    default=DEFAULT_SECRETS["payment-b"],
    show_envvar=True,
    help="Signing secret of payment channel B.",
)
@click.option("--epay-pid", envvar="FAKALAB_EPAY_PID", default="1000", show_default=True,
              show_envvar=True, help="Merchant id (pid) of the epay gateway (--only epay).")
@click.option("--epay-key", envvar="FAKALAB_EPAY_KEY", default="fakalab-epay-key",
              show_envvar=True, help="Merchant key of the epay gateway (signs both ways).")
@click.option("--port", "ports", multiple=True, metavar="NAME=PORT", callback=_ports,
              help="Put one service on a port of its own (instead of port-base + offset), "
              "e.g. --port risk=18105; repeatable.")
@click.option("--public-host", help="Host put in pay URLs (default: the listening host).")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="warning", show_default=True)
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Payment channels keep their payments here (NAME.jsonl) and find them again "
              "after a restart; default: in memory only.")
@click.option("--traces", type=click.Path(file_okay=False, path_type=Path),
              help="Trace the requests that carry a W3C traceparent: each service appends "
              "its spans (OTLP JSON lines) to NAME.jsonl here (docs/tracing.md).")
@click.option("--otlp-endpoint", help="Send those spans to this OTLP/HTTP collector too "
              "(e.g. http://127.0.0.1:4318).")
def upstreams(
    host: str,
    port_base: int,
    only: list[str],
    seed: int,
    secret_a: str,
    secret_b: str,
    epay_pid: str,
    epay_key: str,
    ports: dict[str, int],
    public_host: str | None,
    log_level: str,
    state_dir: Path | None,
    traces: Path | None,
    otlp_endpoint: str | None,
) -> None:
    """Run the upstream services (payment A/B, supplier A/B, risk, notify) until interrupted.

    Prints one line per service, "NAME  URL", once all of them accept connections.
    """
    from fakalab.reference_shop.upstreams.runner import BindError, Settings, run

    settings = Settings(
        host=host,
        port_base=port_base,
        only=tuple(only),
        seed=seed,
        secrets={"payment-a": secret_a, "payment-b": secret_b},
        epay_pid=epay_pid,
        epay_key=epay_key,
        ports=ports,
        public_host=public_host,
        log_level=log_level,
        state_dir=state_dir,
        traces=traces,
        otlp_endpoint=otlp_endpoint,
    )
    try:
        run(settings, on_ready=_print_urls)
    except BindError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:  # a second Ctrl+C while stopping
        sys.exit(130)


if __name__ == "__main__":
    upstreams()
