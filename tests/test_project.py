"""The promises the README makes about the project itself."""

from __future__ import annotations

import re

from conftest import ROOT


def quick_start_commands() -> list[str]:
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [line for line in block[1].splitlines() if line and not line.startswith("#")]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_data_and_outputs_stay_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "dataset/*" in ignored and "output/*" in ignored
