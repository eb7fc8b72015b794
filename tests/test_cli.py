import subprocess
import sys

from click.testing import CliRunner

from fakalab.cli import COMMANDS, cli


def test_help_lists_every_command_without_importing_them() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_every_command_has_help() -> None:
    for name in COMMANDS:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "fakalab", "--help"],
                         capture_output=True, text=True, check=True)
    assert "fakalab" in out.stdout
