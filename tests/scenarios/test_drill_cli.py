"""`fakalab drill`'s options: the generator count and the shop's workers have different names."""

from __future__ import annotations

from click.testing import CliRunner

from fakalab.cli import cli


def test_workers_on_a_drill_asks_which_workers_are_meant() -> None:
    result = CliRunner().invoke(cli, ["drill", "steady", "--workers", "2"])
    assert result.exit_code == 2
    assert "--generators 2 for Locust processes" in result.output
    assert "--set shop.workers=2" in result.output
    assert "Traceback" not in result.output


def test_help_names_generators_and_the_shops_workers() -> None:
    result = CliRunner().invoke(cli, ["drill", "--help"])
    assert result.exit_code == 0
    assert "--generators" in result.output
    assert "shop.workers" in result.output


def test_an_unwritable_out_directory_is_one_line_and_starts_nothing() -> None:
    result = CliRunner().invoke(cli, ["drill", "steady", "--out", "/proc/forbidden"])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: cannot write run directories under "
                                            "/proc/forbidden: ")
    assert len(result.output.strip().splitlines()) == 1
