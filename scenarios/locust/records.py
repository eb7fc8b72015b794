"""polls.csv, tickets.csv and attempts.csv (docs/run-dir.md): one file per Locust process,
merged after the run.

Each generator process appends to `polls-<pid>.csv` / `tickets-<pid>.csv` in the records
directory; `merge_records(directory, out)` concatenates them ordered by time (pure over files).
It also appends what its buyers saw of their orders to `buyers-<pid>.csv`
(`BUYER_RECORD_COLUMNS`), which the outside view of a run is built from (`buyer_records`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from fakalab.contract.rundir import (
    ATTEMPT_COLUMNS,
    BUYER_RECORD_COLUMNS,
    POLL_COLUMNS,
    TICKET_COLUMNS,
)

__all__ = ["RecordWriter", "buyer_records", "merge_records", "merge_rows"]

KINDS = {"polls": POLL_COLUMNS, "tickets": TICKET_COLUMNS, "attempts": ATTEMPT_COLUMNS}
WRITTEN = {**KINDS, "buyers": BUYER_RECORD_COLUMNS}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


class RecordWriter:
    """Appends rows to this process's polls and tickets files, flushing every `flush_every`."""

    def __init__(self, directory: Path, pid: int | None = None, flush_every: int = 200) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        pid = os.getpid() if pid is None else pid
        self._files: dict[str, TextIO] = {}
        self._writers: dict[str, Any] = {}
        for kind, columns in WRITTEN.items():
            handle = open(directory / f"{kind}-{pid}.csv", "w", newline="")  # noqa: SIM115
            self._files[kind] = handle
            self._writers[kind] = csv.writer(handle)
            self._writers[kind].writerow(columns)
        self._pending = 0
        self._flush_every = flush_every

    def poll(self, *row: Any) -> None:
        self._write("polls", row)

    def ticket(self, *row: Any) -> None:
        self._write("tickets", row)

    def attempt(self, *row: Any) -> None:
        self._write("attempts", row)

    def buyer(self, *row: Any) -> None:
        self._write("buyers", row)

    def _write(self, kind: str, row: Sequence[Any]) -> None:
        self._writers[kind].writerow([_cell(v) for v in row])
        self._pending += 1
        if self._pending >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        for handle in self._files.values():
            handle.flush()
        self._pending = 0

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


def merge_rows(parts: Sequence[Sequence[dict[str, str]]]) -> list[dict[str, str]]:
    """Rows of several processes as one list ordered by `at` (stable)."""
    rows = [row for part in parts for row in part]
    return sorted(rows, key=lambda row: float(row["at"] or 0))


def merge_records(directory: Path, out: Path) -> dict[str, int]:
    """Write `out/polls.csv`, `out/tickets.csv` and `out/attempts.csv` from the per-process
    files; rows per kind."""
    counts = {}
    for kind, columns in KINDS.items():
        parts = []
        for path in sorted(directory.glob(f"{kind}-*.csv")):
            with open(path, newline="") as handle:
                reader = csv.DictReader(handle)
                if tuple(reader.fieldnames or ()) != columns:
                    raise ValueError(f"{path}: columns {reader.fieldnames} are not {columns}")
                parts.append(list(reader))
        rows = merge_rows(parts)
        with open(out / f"{kind}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        counts[kind] = len(rows)
    return counts


def buyer_records(directory: Path) -> list[dict[str, str]]:
    """Every process's buyer records, ordered by time; a torn last line (a process killed while
    writing) is skipped."""
    parts = []
    for path in sorted(directory.glob("buyers-*.csv")):
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != BUYER_RECORD_COLUMNS:
                raise ValueError(f"{path}: columns {reader.fieldnames} are not "
                                 f"{BUYER_RECORD_COLUMNS}")
            parts.append([row for row in reader if row.get("what") and row.get("at")])
    return merge_rows(parts)
