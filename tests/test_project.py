"""The promises the README makes about the project itself."""

from __future__ import annotations

import argparse
import re
import runpy
import shlex
import sys

import pytest

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


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every `python <script> ...` command in the bash blocks of the README and docs/: the
    script's path and its arguments, continuation lines joined and comments dropped."""
    commands = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    words = shlex.split(part, comments=True)
                    for index, word in enumerate(words[:-1]):
                        if re.search(r"(^|/)python3?$", word) and words[index + 1].endswith(".py"):
                            commands.append((words[index + 1], words[index + 2:]))
    return commands


class Parsed(Exception):
    """Raised in place of a script's work, once argparse has accepted its arguments."""


def test_the_docs_show_commands():
    scripts = {script for script, _ in documented_commands()}
    assert {"codes/features.py", "codes/train.py", "codes/inference.py", "codes/evaluate.py",
            "codes/report.py"} <= scripts


@pytest.mark.parametrize("script, arguments", documented_commands(),
                         ids=lambda value: " ".join(value) if isinstance(value, list) else value)
def test_every_documented_command_is_accepted_by_its_script(script, arguments, monkeypatch):
    parse_args = argparse.ArgumentParser.parse_args

    def parse_and_stop(parser, args=None, namespace=None):
        raise Parsed(parse_args(parser, args, namespace))  # argparse exits 2 on a bad option

    for path in (word for word in arguments if word.startswith("configs/")):
        assert (ROOT / path).is_file(), f"{script} is shown with {path}, which does not exist"
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_stop)
    monkeypatch.setattr(sys, "argv", [script, *arguments])
    with pytest.raises(Parsed):
        runpy.run_path(str(ROOT / script), run_name="__main__")


def test_the_readme_stays_short_and_its_links_resolve():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "configs" / "README.md",
                 ROOT / "reports" / "findings.md"]:
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"https?:", target):
                assert (page.parent / target).exists(), f"{page.name} links {target}"
