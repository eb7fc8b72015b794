"""`fakalab shop --db …`: every URL form a person types is a working shop, or one clear line on
stderr with exit code 2 — never a traceback. The normalisation itself is pure and tested first.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakalab.reference_shop.children import line_queue, terminate
from fakalab.reference_shop.dburl import BadDatabaseUrl, database_url
from tests.conftest import free_port
from tests.reference_shop.conftest import reset_faults

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("given", "used"), [
    ("shop.db", "sqlite+aiosqlite:///shop.db"),
    ("runs/x/shop.db", "sqlite+aiosqlite:///runs/x/shop.db"),
    ("/abs/shop.db", "sqlite+aiosqlite:////abs/shop.db"),
    ("sqlite:///shop.db", "sqlite+aiosqlite:///shop.db"),
    ("sqlite:////abs/shop.db", "sqlite+aiosqlite:////abs/shop.db"),
    ("sqlite+aiosqlite:///shop.db", "sqlite+aiosqlite:///shop.db"),
    ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ("sqlite://", "sqlite+aiosqlite:///:memory:"),
    ("postgresql://u:pw@db.example:5433/shop", "postgresql+asyncpg://u:pw@db.example:5433/shop"),
    ("postgres://u@db.example/shop", "postgresql+asyncpg://u@db.example/shop"),
    ("postgresql+psycopg2://u@db.example/shop", "postgresql+asyncpg://u@db.example/shop"),
    ("postgresql+asyncpg://u@db.example/shop", "postgresql+asyncpg://u@db.example/shop"),
    ("postgres://u@db.example/shop?sslmode=require",
     "postgresql+asyncpg://u@db.example/shop?ssl=require"),
])
def test_url_forms_are_normalised_to_the_async_drivers(given: str, used: str) -> None:
    assert database_url(given) == used


@pytest.mark.parametrize("given", ["mysql://u@localhost/shop", "foo://bar", "", "http://[x"])
def test_an_unusable_url_is_refused_with_the_forms_that_work(given: str) -> None:
    with pytest.raises(BadDatabaseUrl, match="the forms that work: PATH, sqlite:///PATH"):
        database_url(given)


def test_a_password_is_never_shown() -> None:
    with pytest.raises(BadDatabaseUrl) as caught:
        database_url("mysql://u:secret@localhost/shop")
    assert "secret" not in str(caught.value)


# -- the command -----------------------------------------------------------------------------

def shop_command(db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "fakalab", "shop", "--db", db, "--port", "0", *args]


def refused(command: list[str], cwd: Path) -> str:
    """Run a shop that must not start; returns its one stderr line."""
    run = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, (run.returncode, run.stderr)
    assert "shop " not in run.stdout
    assert lines[0].startswith("error: ")
    return lines[0]


def buy_one(url: str) -> dict[str, Any]:
    """Order, pay at the channel, wait for the keys: the shop works."""
    with httpx.Client(base_url=url, timeout=10) as http:
        r = http.post("/api/orders", json={"product_id": "steam-50", "email": "db@example.com"})
        assert r.status_code == 201, r.text
        order = r.json()
        assert http.post(order["pay_url"]).status_code == 200
        deadline = time.monotonic() + 20
        while True:
            view = http.get(f"/api/orders/{order['order_no']}",
                            headers={"X-Order-Token": order["token"]}).json()
            if view["state"] == "delivered":
                return dict(view)
            assert time.monotonic() < deadline, view["state"]
            time.sleep(0.05)


def serves(db: str, cwd: Path, upstreams: dict[str, str]) -> None:
    """Start a shop on ``db`` with the demo catalog, sell one key, stop it cleanly."""
    pairs = [a for name, url in upstreams.items() for a in ("--upstreams", f"{name}={url}")]
    proc = subprocess.Popen(shop_command(db, "--demo", *pairs), cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = line_queue(proc)
        url = ""
        while not url:
            line = lines.get(timeout=30)
            assert line is not None, f"exited with {proc.wait()}: {proc.stderr.read()}"  # type: ignore[union-attr]
            name, _, rest = line.partition(" ")
            url = rest.strip() if name == "shop" else ""
        assert len(buy_one(url)["keys"]) == 1
    except queue.Empty:
        pytest.fail("the shop did not start within 30 s")
    finally:
        code = terminate(proc)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0 and "Traceback" not in stderr, stderr


@pytest.fixture
def upstreams(upstream_urls: dict[str, str]) -> dict[str, str]:
    reset_faults(upstream_urls)
    return upstream_urls


@pytest.mark.parametrize("db", ["sqlite:///shop.db", "shop.db", "sqlite:///:memory:"])
def test_sqlite_forms_are_a_working_shop(db: str, tmp_path: Path,
                                          upstreams: dict[str, str]) -> None:
    serves(db, tmp_path, upstreams)
    assert (tmp_path / "shop.db").is_file() == (db != "sqlite:///:memory:")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg"])
def test_postgresql_forms_are_a_working_shop(scheme: str, postgres: str, tmp_path: Path,
                                              upstreams: dict[str, str]) -> None:
    serves(postgres.replace("postgresql", scheme, 1) + "/shop", tmp_path, upstreams)


@pytest.mark.parametrize("db", ["mysql://shop@localhost/shop", "foo://bar"])
def test_an_unknown_scheme_is_one_line_listing_the_forms(db: str, tmp_path: Path) -> None:
    line = refused(shop_command(db), tmp_path)
    assert "the forms that work: PATH, sqlite:///PATH, sqlite:///:memory:, postgresql://" in line


@pytest.mark.parametrize("db", ["nowhere/shop.db", "sqlite:///nowhere/shop.db"])
def test_a_sqlite_file_in_a_missing_directory_names_the_directory(db: str, tmp_path: Path
                                                                  ) -> None:
    line = refused(shop_command(db), tmp_path)
    assert line == ("error: cannot open the database nowhere/shop.db: the directory nowhere "
                    "does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_a_dead_postgresql_port_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    line = refused(shop_command(f"postgresql://127.0.0.1:{port}/shop"), tmp_path)
    assert line == (f"error: cannot connect to the database at "
                    f"postgresql+asyncpg://127.0.0.1:{port}/shop: connection refused")


def test_a_missing_postgresql_database_is_one_line(postgres: str, tmp_path: Path) -> None:
    line = refused(shop_command(f"{postgres}/nope"), tmp_path)
    assert line.endswith('/nope: database "nope" does not exist'), line


def test_postgresql_without_asyncpg_says_what_to_install(tmp_path: Path) -> None:
    no_asyncpg = ("import sys; sys.modules['asyncpg'] = None; "
                  "from fakalab.cli import main; main()")
    line = refused([sys.executable, "-c", no_asyncpg, "shop", "--db", "postgres://h/shop",
                    "--port", "0"], tmp_path)
    assert line.endswith("pip install 'fakalab[postgres]'"), line


def test_the_environment_variable_takes_the_same_forms(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "fakalab", "shop", "--port", "0"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "FAKALAB_SHOP_DB_URL": "nowhere/shop.db"})
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        "error: cannot open the database nowhere/shop.db: the directory nowhere does not exist"]


def test_the_documented_message_is_the_one_given() -> None:
    documented = (ROOT / "docs" / "shop.md").read_text()
    with pytest.raises(BadDatabaseUrl) as caught:
        database_url("mysql://localhost/x")
    assert f"`error: {caught.value}`" in documented
