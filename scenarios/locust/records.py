"""polls.csv, tickets.csv, attempts.csv and disputes.csv (docs/run-dir.md): one file per Locust
process, merged after the run.

Each generator process appends to `polls-<pid>.csv` / `tickets-<pid>.csv` in the records
directory; `merge_records(directory, out)` concatenates them ordered by time (pure over files).
It also appends what its buyers saw of their orders to `buyers-<pid>.csv`
(`BUYER_RECORD_COLUMNS`), which the outside view of a run is built from (`buyer_records`).

A Locust worker — forked on this host or joined from another one — writes no file: its
`RecordShipper` sends the rows in batches (with its arrival summary) over the worker's own
connection to the master, where a `RecordReceiver` appends them to `<kind>-w<index>.csv` and
`arrivals-w<index>.json` in the records directory. So a worker needs no shared filesystem and no
port of its own, and a run directory looks the same whichever host generated its load. The
buyers' spans travel the same way (`span_line`), to `traces/buyers-w<index>.jsonl`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from fakalab.contract.rundir import (
    ATTEMPT_COLUMNS,
    BUYER_RECORD_COLUMNS,
    DISPUTE_COLUMNS,
    POLL_COLUMNS,
    TICKET_COLUMNS,
)
from fakalab.contract.traces import BUYERS

__all__ = ["Batch", "RecordReceiver", "RecordShipper", "RecordWriter", "append_lines",
           "buyer_records",
           "merge_records", "merge_rows", "write_json"]

KINDS = {"polls": POLL_COLUMNS, "tickets": TICKET_COLUMNS, "attempts": ATTEMPT_COLUMNS,
         "disputes": DISPUTE_COLUMNS}
OPTIONAL = ("disputes",)  # merged only when a process wrote a row (buyers who claimed)
WRITTEN = {**KINDS, "buyers": BUYER_RECORD_COLUMNS}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


class _Rows:
    """One method per kind of record the buyers write (`WRITTEN`)."""

    def poll(self, *row: Any) -> None:
        self._write("polls", row)

    def ticket(self, *row: Any) -> None:
        self._write("tickets", row)

    def attempt(self, *row: Any) -> None:
        self._write("attempts", row)

    def buyer(self, *row: Any) -> None:
        self._write("buyers", row)

    def dispute(self, *row: Any) -> None:
        self._write("disputes", row)

    def _write(self, kind: str, row: Sequence[Any]) -> None:
        raise NotImplementedError


class RecordWriter(_Rows):
    """Appends rows to this process's record files, flushing every `flush_every`."""

    def __init__(self, directory: Path, pid: int | str | None = None,
                 flush_every: int = 200) -> None:
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

    def _write(self, kind: str, row: Sequence[Any]) -> None:
        self.write_cells(kind, [_cell(v) for v in row])

    def write_cells(self, kind: str, cells: Sequence[str]) -> None:
        self._writers[kind].writerow(cells)
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


# {"rows": {kind: [[cell, ...], ...]}, "summary": {...} | None, "spans": [OTLP JSON line, ...]}
Batch = dict[str, Any]


class RecordShipper(_Rows):
    """A worker's records, sent to the master in batches instead of written here.

    Same interface as `RecordWriter`; `send(batch)` is the worker's `runner.send_message`. Rows
    go out every `flush_every` rows and with every `publish(summary)` (once a second)."""

    def __init__(self, send: Callable[[Batch], None], flush_every: int = 500) -> None:
        self._send = send
        self._rows: dict[str, list[list[str]]] = {kind: [] for kind in WRITTEN}
        self._spans: list[str] = []  # OTLP JSON lines of the buyers' spans
        self._pending = 0
        self._flush_every = flush_every

    def span_line(self, line: str) -> None:
        """The buyers' spans (one OTLP JSON line), sent with the next batch."""
        self._spans.append(line)

    def _write(self, kind: str, row: Sequence[Any]) -> None:
        self._rows[kind].append([_cell(v) for v in row])
        self._pending += 1
        if self._pending >= self._flush_every:
            self.flush()

    def publish(self, summary: dict[str, Any] | None) -> None:
        """Send the rows so far with this summary (None: rows only)."""
        rows, self._rows = self._rows, {kind: [] for kind in WRITTEN}
        spans, self._spans = self._spans, []
        self._pending = 0
        if summary is not None or any(rows.values()) or spans:
            batch: Batch = {"rows": {kind: part for kind, part in rows.items() if part},
                            "summary": summary}
            if spans:
                batch["spans"] = spans
            self._send(batch)

    def flush(self) -> None:
        self.publish(None)

    def close(self) -> None:
        self.flush()


class RecordReceiver:
    """The master's side: each worker's batches appended to its own files, flushed at once."""

    def __init__(self, directory: Path, traces: Path | None = None) -> None:
        self.directory = directory
        self.traces = traces  # where the workers' span lines go: buyers-<source>.jsonl
        self._writers: dict[str, RecordWriter] = {}
        self.closed = False

    def receive(self, source: str, batch: Batch) -> None:
        """Append a batch of `source` (a worker); ignored once closed, so a late message never
        reopens — and so empties — a file."""
        if self.closed:
            return
        rows = batch.get("rows") or {}
        if rows:
            writer = self._writers.get(source)
            if writer is None:
                writer = self._writers[source] = RecordWriter(self.directory, source)
            for kind, part in rows.items():
                if kind in WRITTEN:
                    for cells in part:
                        writer.write_cells(kind, [str(cell) for cell in cells])
            writer.flush()
        if batch.get("summary") is not None:
            write_json(self.directory / f"arrivals-{source}.json", batch["summary"])
        if batch.get("spans") and self.traces is not None:
            append_lines(self.traces / f"{BUYERS}-{source}.jsonl", batch["spans"])

    def close(self) -> None:
        self.closed = True
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def append_lines(path: Path, lines: Sequence[str]) -> None:
    """Append whole lines to `path` (created, with its directory, when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` in one step (readers poll it while it is rewritten)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1))
    temporary.replace(path)


def merge_rows(parts: Sequence[Sequence[dict[str, str]]]) -> list[dict[str, str]]:
    """Rows of several processes as one list ordered by `at` (stable)."""
    rows = [row for part in parts for row in part]
    return sorted(rows, key=lambda row: float(row["at"] or 0))


def merge_records(directory: Path, out: Path) -> dict[str, int]:
    """Write `out/polls.csv`, `out/tickets.csv`, `out/attempts.csv` (and `out/disputes.csv`
    when a buyer claimed) from the per-process files; rows per kind."""
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
        if kind in OPTIONAL and not rows:
            continue
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
