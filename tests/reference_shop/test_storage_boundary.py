"""Every SQL statement of the shop lives in the storage layer (``storage/``, with the tables in
``db.py``): no other module of the shop — nor the run directory's export — imports SQLAlchemy
or sqlite3, so none can write a query. (``interfaces.py`` names the connection type only,
``dburl.py`` parses URLs.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "reference_shop"
STORAGE = {SHOP / "db.py", SHOP / "dburl.py", SHOP / "interfaces.py"}
SQL_MODULES = ("sqlalchemy", "sqlite3", "psycopg")


def sql_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found += [f"{path.name}:{node.lineno}: {n}" for n in names
                  if n.split(".")[0] in SQL_MODULES]
    return found


def test_no_sql_outside_the_storage_layer() -> None:
    outside = [p for p in SHOP.rglob("*.py")
               if p not in STORAGE and SHOP / "storage" not in p.parents
               and SHOP / "upstreams" not in p.parents]
    outside += [ROOT / "scenarios" / "export.py"]
    assert [hit for path in outside for hit in sql_imports(path)] == []


def test_the_check_catches_a_query(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("def late() -> None:\n    import sqlite3\n    from sqlalchemy import text\n")
    assert sql_imports(planted) == ["planted.py:2: sqlite3", "planted.py:3: sqlalchemy"]
