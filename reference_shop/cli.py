"""``fakalab shop``: run the reference shop on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
from typing import Any, NoReturn

import click
from pydantic import ValidationError

__all__ = ["shop"]


def _parse_pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint=what)
        pairs[key.strip()] = value.strip()
    return pairs


def _structured(key: str, value: str) -> Any:
    """A mapping or list given on the command line (`payment_secrets={"payment-a": "…"}`)."""
    if not value.startswith(("{", "[")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise click.BadParameter(f"{key}: {value!r} is not valid JSON", param_hint="--set"
                                 ) from None


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so a busy port is a clear error, not a traceback."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@click.command()
@click.option("--db", "db_url", default=None, help="Database: a SQLite path or sqlite:///PATH, "
              "sqlite:///:memory:, or postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
              "(default fakalab-shop.db).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--upstreams", "upstream_pairs", multiple=True, metavar="NAME=URL",
              help="Override an upstream URL, e.g. payment-a=http://127.0.0.1:18101.")
@click.option("--upstream-base", default=None, type=int,
              help="Port base of `fakalab upstreams` (default 9100).")
@click.option("--with-upstreams", is_flag=True, help="Also start `fakalab upstreams`.")
@click.option("--demo", is_flag=True, help="Load the demo catalog with keys.")
@click.option("--workers", default=None, type=int, help="Fulfilment workers (default 4).")
@click.option("--transparency", type=click.Choice(["transparent", "opaque"]), default=None)
@click.option("--admin-token", default=None, help="Bearer token of /api/admin (default random).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Any shop setting, e.g. --set failover=false --set order_ttl_s=60.")
@click.option("--log-level", default="warning", show_default=True)
def shop(db_url: str | None, host: str, port: int, upstream_pairs: tuple[str, ...],
         upstream_base: int | None, with_upstreams: bool, demo: bool, workers: int | None,
         transparency: str | None, admin_token: str | None, overrides: tuple[str, ...],
         log_level: str) -> None:
    """Run the reference shop (FastAPI) and print the URLs it listens on."""
    from fakalab.contract.services import default_urls
    from fakalab.contract.shop_settings import ShopSettings
    from fakalab.reference_shop.dburl import DatabaseProblem, database_url

    values: dict[str, Any] = {k: _structured(k, v)
                              for k, v in _parse_pairs(overrides, "--set").items()}
    upstreams = default_urls(upstream_base) if upstream_base else default_urls()
    upstreams.update(_parse_pairs(upstream_pairs, "--upstreams"))
    values.update(host=host, port=port, upstreams=upstreams)
    for key, value in (("db_url", db_url), ("workers", workers),
                       ("transparency", transparency), ("admin_token", admin_token)):
        if value is not None:
            values[key] = value
    try:
        settings = ShopSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.ClickException(f"bad shop setting: {problems}") from None
    try:
        settings.db_url = database_url(settings.db_url)
    except DatabaseProblem as exc:
        _fail(exc)
    _check_risk_model(settings)
    sock = bind(host, port)
    settings.port = sock.getsockname()[1]
    with contextlib.ExitStack() as stack:
        if with_upstreams:
            stack.enter_context(_upstreams(upstream_base, settings))
        sys.exit(_run(_serve(settings, sock, demo, log_level)))


def _check_risk_model(settings: Any) -> None:
    """The delay-risk model file, checked before anything starts (one line if unusable)."""
    from fakalab.contract.delay_risk import ModelError
    from fakalab.reference_shop.composition import risk_model

    if settings.delay_risk == "off":
        return
    try:
        model = risk_model(settings)
    except ModelError as exc:
        _fail(exc)
    if model is None and settings.delay_risk == "act":
        _fail(ValueError("delay_risk act needs a model: --set risk_model=FILE "
                         "(fakalab model train)"))


def _fail(problem: Exception) -> NoReturn:
    """A problem the person can act on: one line, exit code 2."""
    click.echo(f"error: {problem}", err=True)
    sys.exit(2)


def default_secret_warnings(settings: Any) -> list[str]:
    """A loud line per payment channel whose signing secret is the public default: anyone who
    read fakalab's source can sign a payment notice that delivers keys."""
    from fakalab.contract.services import DEFAULT_SECRETS

    return [f"WARNING: payment channel {channel} uses the public default secret; a notice "
            f"anyone can sign will deliver keys. Give it its own: --set payment_secrets="
            f"'{{\"{channel}\": \"…\"}}' (and the same to fakalab upstreams "
            f"--secret-{channel[-1]})" for channel, secret in settings.payment_secrets.items()
            if secret == DEFAULT_SECRETS.get(channel)]


def _run(main: Any) -> int:
    """Run on uvloop when it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)  # type: ignore[no-any-return]
    return uvloop.run(main)  # type: ignore[no-any-return]


@contextlib.contextmanager
def _upstreams(port_base: int | None, settings: Any) -> Any:
    from fakalab.contract.services import default_urls
    from fakalab.reference_shop.upstreams.process import UpstreamsError, UpstreamsProcess

    proc = UpstreamsProcess(port_base or 9100)
    try:
        urls = proc.start()
    except UpstreamsError as exc:
        raise click.ClickException(str(exc)) from None
    for name, url in urls.items():
        click.echo(f"{name:<12}{url}")
    settings.upstreams = {**default_urls(proc.port_base or 9100), **urls}
    try:
        yield proc
    finally:
        proc.stop()


async def _serve(settings: Any, sock: socket.socket, demo: bool, log_level: str) -> int:
    import uvicorn

    from fakalab.reference_shop.app import create_app
    from fakalab.reference_shop.collector import GcPauses
    from fakalab.reference_shop.collector import tune as tune_collector
    from fakalab.reference_shop.dburl import DatabaseProblem
    from fakalab.reference_shop.demo import demo_catalog, load_catalog
    from fakalab.reference_shop.server import uvicorn_config

    app = create_app(settings)
    try:
        await app.state.shop.open()
    except DatabaseProblem as exc:
        await app.state.shop.db.close()
        _fail(exc)
    if demo:
        await load_catalog(app.state.shop.db, demo_catalog(settings.demo_keys))
    server = uvicorn.Server(uvicorn_config(app, settings, log_level))
    GcPauses(app.state.shop.state.metrics.registry).install()
    tune_collector()  # the process is built: freeze it, make young passes rare
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    url = f"http://{settings.host}:{settings.port}"
    server_task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not server_task.done():
        await asyncio.sleep(0.02)
    if server.started:
        click.echo(f"shop        {url}")
        click.echo(f"status      {url}/api/status")
        click.echo(f"metrics     {url}/metrics")
        click.echo(f"admin token {settings.admin_token}", err=True)
        for line in default_secret_warnings(settings):
            click.echo(line, err=True)
        sys.stdout.flush()
    await server_task
    return 0 if server.started else 1


if __name__ == "__main__":
    shop()
