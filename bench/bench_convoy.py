"""The GIL convoy the shop's database writer meets: a thread running statements one after
another while another thread keeps the interpreter busy (as the shop's event loop does under
load), at several switch intervals (`sys.setswitchinterval`).

    .venv/bin/python bench/bench_convoy.py [--db postgresql://…] [--statements 500]

Without --db the statements go to an SQLite file in a temporary directory. Prints the time a
statement takes with the interpreter idle (the baseline) and, for each interval, with it busy,
as a ratio to that baseline.

What it showed, and why the shop keeps Python's default of 5 ms: beside a thread that never
blocks, a statement waits for the switch (19x its idle time on PostgreSQL, 122x on SQLite; 3–8x
at 0.2 ms). But the shop's event loop blocks often, and at a 0.2 ms interval the switches cost
more than they saved: `bench_shop.py --connections 128 --orders 3000 --workers 32` gave 293.6
orders/s at 2.76 ms of CPU an order against 362.1 at 2.18 ms with the default (SQLite), and
204.8 against 239.8 (PostgreSQL), one run each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

INTERVALS_S = (0.005, 0.001, 0.0002)


def connect(db: str | None) -> Any:
    if db:
        import psycopg

        return psycopg.connect(db, autocommit=True)
    import sqlite3

    conn = sqlite3.connect(Path(tempfile.mkdtemp()) / "convoy.db", check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def per_statement(conn: Any, placeholder: str, n: int, busy: bool) -> float:
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    spinner = threading.Thread(target=spin)
    if busy:
        spinner.start()
    cur = conn.cursor()
    started = time.perf_counter()
    for i in range(n):
        cur.execute(f"SELECT a FROM convoy WHERE id = {placeholder}", (i % 100,))
        cur.fetchone()
    took = time.perf_counter() - started
    stop.set()
    if busy:
        spinner.join()
    return took / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--statements", type=int, default=500)
    args = parser.parse_args()
    conn = connect(args.db)
    placeholder = "%s" if args.db else "?"
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS convoy (id INTEGER PRIMARY KEY, a TEXT)")
    cur.execute("DELETE FROM convoy")
    for i in range(100):
        cur.execute(f"INSERT INTO convoy (id, a) VALUES ({placeholder}, 'x')", (i,))
    if not args.db:
        conn.commit()
    run: Callable[[bool], float] = lambda busy: per_statement(  # noqa: E731
        conn, placeholder, args.statements, busy)
    baseline = run(False)
    print(f"{'sqlite' if not args.db else 'postgresql'}: {baseline * 1e6:.0f} µs a statement "
          "with the interpreter idle (baseline)")
    for interval in INTERVALS_S:
        sys.setswitchinterval(interval)
        busy = run(True)
        print(f"  switch interval {interval * 1000:>4.1f} ms, interpreter busy: "
              f"{busy * 1e6:6.0f} µs a statement = {busy / baseline:5.1f}x the baseline")


if __name__ == "__main__":
    main()
