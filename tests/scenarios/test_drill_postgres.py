"""A drill on PostgreSQL: `--set shop.db_url=postgresql://…` (or FAKALAB_SHOP_DB_URL) makes the
run's own database on that server, copies it into the run directory when the shop has stopped,
and drops it — the run stays self-contained and its audit passes. A SQLite URL is refused in
one line: a drill keeps its SQLite database in the run directory.

Regression: `--set shop.db_url=…` was refused as "steady.yaml:10: shop: unknown shop setting
'db_url'" (blaming the catalog file for a command-line option), and FAKALAB_SHOP_DB_URL was
silently ignored by a drill.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.scenarios.test_drill import write_scenario

FAKALAB = [sys.executable, "-m", "fakalab"]


async def _databases(server: str) -> set[str]:
    conn = await asyncpg.connect(f"{server}/shop")
    try:
        return {r["datname"] for r in await conn.fetch("select datname from pg_database")}
    finally:
        await conn.close()


@pytest.mark.parametrize("how", ["set", "environment"])
async def test_a_drill_on_postgresql_is_self_contained(tmp_path: Path, postgres: str,
                                                       how: str) -> None:
    scenario = write_scenario(tmp_path, duration="8s", fault="3s")
    args = [*FAKALAB, "drill", str(scenario), "--out", str(tmp_path / "runs"), "--no-report"]
    env = dict(os.environ)
    if how == "set":
        args += ["--set", f"shop.db_url={postgres}/shop"]
    else:
        env["FAKALAB_SHOP_DB_URL"] = f"{postgres}/shop"
    run = subprocess.run(args, capture_output=True, text=True, timeout=240, env=env)
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    database = info["database"]
    assert database["kind"] == "postgresql" and database["name"].startswith("fakalab_")
    assert "copy_error" not in database
    assert (run_dir / "shop.db").is_file()  # the copy: audits need no server
    assert info["audit"] == {"ran": True, "failed": []}
    assert len((run_dir / "orders.csv").read_text().splitlines()) > 10
    assert database["name"] not in await _databases(postgres)  # dropped


def test_a_sqlite_url_is_refused_in_one_line(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, duration="5s", fault="2s")
    run = subprocess.run([*FAKALAB, "drill", str(scenario), "--out", str(tmp_path / "runs"),
                          "--no-report", "--set", f"shop.db_url=sqlite:///{tmp_path}/x.db"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "a drill keeps a SQLite database in its run directory" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
