"""`fakalab audit RUN_DIR [--db URL] [--junit FILE]`: the right audit for the run.

A run of the reference shop (run.json `view` inside, or none: every run before format 2) is
checked against the shop's database (`reference_shop/audit.py`); a run of an external target
(`view` outside) by what its buyers and the gateway saw (`reports/outside_audit.py`). Both
write RUN_DIR/audit.json; exit 0: all hold, 1: a violation, 2: the run cannot be audited.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import click

from fakalab.reference_shop.audit import run_checks
from fakalab.reference_shop.audit_cli import AuditError as InsideAuditError
from fakalab.reference_shop.audit_cli import audit_run, live_input
from fakalab.reports.outside_audit import OutsideAuditError, audit_outside
from fakalab.scenarios.junit import Case, Suite, render

__all__ = ["AuditError", "audit", "audit_any", "audit_cases", "view_of"]


class AuditError(Exception):
    """The run cannot be audited (one line)."""


class _Check(Protocol):
    name: str
    rows: list[dict[str, Any]]

    @property
    def passed(self) -> bool: ...

    def as_dict(self, limit: int = 50) -> dict[str, Any]: ...


def view_of(run_dir: Path) -> str:
    """`inside` (the shop's database is there to check against) or `outside`."""
    try:
        meta = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return "inside"  # the inside audit says what is missing
    return "outside" if isinstance(meta, dict) and meta.get("view") == "outside" else "inside"


def audit_any(run_dir: Path, db: str | None = None) -> Sequence[_Check]:
    if not run_dir.is_dir():
        raise AuditError(f"{run_dir}: not a run directory (no such directory)")
    try:
        if view_of(run_dir) == "outside":
            if db is not None:
                raise AuditError(f"{run_dir}: an outside run has no shop database to check "
                                 f"against (--db is for runs of the reference shop)")
            return audit_outside(run_dir)
        return audit_run(run_dir, db)
    except (InsideAuditError, OutsideAuditError) as exc:
        raise AuditError(str(exc)) from None


def _case(prefix: str, check: dict[str, Any]) -> Case:
    """One check of audit.json as a test case (one that could not be judged is skipped)."""
    rows = check.get("rows") or []
    if check.get("passed") and check.get("skipped"):
        return Case(f"{prefix}.audit", str(check.get("name")), "skipped",
                    f"not judged: {check['skipped']}")
    detail = "\n".join(json.dumps(row, default=str) for row in rows[:20])
    return Case(f"{prefix}.audit", str(check.get("name")),
                "passed" if check.get("passed") else "failure",
                f"{check.get('violations', len(rows))} violations: "
                f"{check.get('description', '')}", detail)


def audit_cases(run_dir: Path, prefix: str) -> list[Case]:
    """audit.json's checks as test cases."""
    try:
        audit = json.loads((run_dir / "audit.json").read_text())
    except (OSError, ValueError):
        return []
    checks = audit.get("checks", []) if isinstance(audit, dict) else []
    return [_case(prefix, check) for check in checks if isinstance(check, dict)]


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
@click.option("--db", default=None, help="The shop database to check against (default: "
              "RUN_DIR/shop.db): a SQLite path or sqlite:///PATH, or "
              "postgresql://USER:PASSWORD@HOST:PORT/DATABASE. Alone (no RUN_DIR): audit a "
              "live shop's database as of now. Runs of the reference shop only.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the checks as JUnit XML (one test case each).")
def audit(run_dir: Path | None, db: str | None, junit_path: Path | None) -> None:
    """Check a run's invariants and write RUN_DIR/audit.json: against the reference shop's
    database, or — for an external target — from what its buyers and the gateway saw; with
    --db alone, the invariants of a live shop database. Exit 0: all hold; 1: a violation;
    2: cannot audit."""
    if run_dir is None and db is None:
        click.echo("error: give a run directory, or --db URL to audit a live shop database",
                   err=True)
        sys.exit(2)
    try:
        checks = audit_any(run_dir, db) if run_dir is not None else run_checks(
            live_input(str(db), time.time()))
    except (AuditError, InsideAuditError, OSError, ValueError, KeyError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for c in checks:
        skipped = getattr(c, "skipped", None)
        mark = "skip" if skipped else "ok  " if c.passed else "FAIL"
        note = f" ({skipped})" if skipped else (
            "" if c.passed else f" ({len(c.rows)} violations)")
        click.echo(f"{mark} {c.name}{note}")
    status = 0 if all(c.passed for c in checks) else 1
    if junit_path is not None:
        name = run_dir.name if run_dir is not None else "live"
        cases = audit_cases(run_dir, name) if run_dir is not None else [
            _case("live", c.as_dict()) for c in checks]
        suite = Suite(f"fakalab audit {name}", cases, properties={
            "run_dir": str(run_dir or ""), "view": view_of(run_dir) if run_dir else "live"})
        try:
            junit_path.write_text(render([suite]))
        except OSError as exc:
            click.echo(f"error: cannot write {junit_path}: {exc.strerror}", err=True)
            sys.exit(2)
    sys.exit(status)
