"""fakalab installs as one namespace: nothing but `fakalab` at the top of site-packages.

PyPI has distributions named `chaos`, `reports`, `simulate` and `scenarios`; a distribution that
installed packages of those names would overwrite theirs (and an uninstall of either would
delete the other's files).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("reference_shop", "scenarios", "chaos", "simulate", "reports", "contract")
SOURCES = [ROOT / part for part in PARTS if (ROOT / part).is_dir()] + [
    ROOT / "fakalab", ROOT / "tests", ROOT / "bench"]


def _top_level(names: list[str]) -> set[str]:
    return {name.split("/", 1)[0] for name in names}


def test_the_wheel_holds_only_the_fakalab_namespace(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info into the tree
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "fakalab", *PARTS):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif (ROOT / name).is_file():
            shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("fakalab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    version = metadata.version("fakalab")
    assert _top_level(names) == {"fakalab", f"fakalab-{version}.dist-info"}
    for part in PARTS:  # each part is there, under the namespace
        if (ROOT / part).is_dir():
            assert f"fakalab/{part}/__init__.py" in names
    assert "fakalab/contract/catalog/flash-sale.yaml" in names  # package data too
    assert "fakalab/contract/models/delay-risk.json" in names  # the shipped delay-risk model


def test_the_installed_distribution_claims_only_fakalab() -> None:
    site = sysconfig.get_paths()["purelib"]
    (dist,) = metadata.distributions(name="fakalab", path=[site])
    assert (dist.read_text("top_level.txt") or "").split() == ["fakalab"]
    # an editable install adds its path hook, named after the distribution
    installed = {str(f).split("/", 1)[0] for f in dist.files or []}
    assert {name for name in installed if not name.startswith(
        ("fakalab", "__editable__.fakalab", "__editable___fakalab", "__pycache__", ".."))} == set()


def test_no_bare_part_is_importable_outside_the_checkout(tmp_path: Path) -> None:
    code = ("import importlib.util, sys; "
            f"print([n for n in {PARTS!r} if importlib.util.find_spec(n)])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nothing_imports_a_part_by_its_bare_name() -> None:
    found = []
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom)
                         and not node.level else [])
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names
                          if name.split(".", 1)[0] in PARTS]
    assert found == []
