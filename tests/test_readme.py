"""Every code block in README.md runs as written (issue 16, finding 1); the rule is in
tests/readme_blocks.py and in the README itself.  Also: docs/reference.md lists every command,
option and config key, and the Makefile keeps a light test target (finding 8)."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import README, ROOT, RUN, Block, block_id, blocks

from quantkan.cli import build_parser, main

BLOCKS = blocks()
PYTHON = [b for b in BLOCKS if b.language == "python"]
SHELL = [b for b in BLOCKS if b.language == "sh"]
REFERENCE = ROOT / "docs" / "reference.md"


def test_the_readme_has_only_blocks_the_rule_covers():
    assert {b.language for b in BLOCKS} <= {"python", "sh", "text"}, {b.language for b in BLOCKS}
    assert len(PYTHON) >= 4 and len(SHELL) >= 8


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder like a checkout's top: examples/ (and the Makefile) beside what the blocks write."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "examples").symlink_to(ROOT / "examples")
    return folder


@pytest.mark.parametrize("block", [b for b in PYTHON if not b.needs_keras], ids=block_id)
def test_python_block_runs_as_written(block: Block, scratch):
    done = subprocess.run([sys.executable, "-c", block.text], cwd=scratch, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"README.md line {block.line}:\n{done.stderr[-3000:]}"


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {t for line in text.splitlines() if line.startswith(".PHONY:") for t in line.split()[1:]}


def test_shell_blocks_parse_and_the_quick_commands_run(scratch, monkeypatch, capsys):
    """In README order, so a command may use what an earlier one wrote (a trained model)."""
    monkeypatch.chdir(scratch)
    parser, targets, ran = build_parser(), _make_targets(), []
    for block in SHELL:
        syntax = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
        assert syntax.returncode == 0, f"README.md line {block.line}: {syntax.stderr}"
        for argv in block.commands():
            where = f"README.md line {block.line}: {' '.join(argv)}"
            if argv[0] == "make":
                assert set(argv[1:]) <= targets, f"{where}: no such make target"
            if Path(argv[0]).name != "quantkan":
                continue
            try:
                args = parser.parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{where}: the CLI does not accept it ({capsys.readouterr().err.strip()})")
            config = getattr(args, "config", None)
            assert config is None or (ROOT / config).is_file(), f"{where}: {config} does not exist"
            command = tuple(a for a in (args.command, getattr(args, "backend", None)) if a)
            if command in RUN and argv[0].startswith(".venv/"):
                assert main(argv[1:]) == 0, f"{where}: {capsys.readouterr().err}"
                ran.append(command)
    assert {("quantize",), ("boards",), ("train",), ("export", "verilog"), ("export", "hls")} <= set(ran)


def test_the_makefile_has_a_light_target_and_the_readme_says_what_each_costs():
    dry = subprocess.run(["make", "-n", "test-main", "VENV=.venv"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0 and "pytest" in dry.stdout and ".venv-keras" not in dry.stdout, dry.stdout
    text = README.read_text()
    for target in ("make test-main", "make test-keras", "make test", "make test-full"):
        row = next((line for line in text.splitlines() if line.startswith(f"| `{target}`")), None)
        assert row and re.search(r"\d min|not timed", row), f"README's test table has no cost for {target}"
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# -- docs/reference.md ---------------------------------------------------------------------
def test_the_reference_page_lists_every_command_and_option_as_the_cli_has_them():
    from quantkan.options import REFERENCE_BEGIN, REFERENCE_END, markdown

    page = REFERENCE.read_text()
    generated = page.split(REFERENCE_BEGIN)[1].split(REFERENCE_END)[0].strip()
    assert generated == markdown(build_parser()).strip(), \
        "docs/reference.md is out of date: python -m quantkan.options docs/reference.md"


def test_the_reference_page_lists_every_config_key():
    from quantkan.config import LEARNING_KEYS, TASK_KEYS
    from quantkan.models import MODEL_KEYS, KANTypes, MLPTypes
    from quantkan.tasks import TASKS

    page = REFERENCE.read_text()
    keys = set(LEARNING_KEYS) | set(TASK_KEYS) | {"kind", "types"} | set().union(*MODEL_KEYS.values())
    keys |= {f.name for cls in (KANTypes, MLPTypes) for f in dataclasses.fields(cls)}
    keys |= {name for task in TASKS.values() for name in inspect.signature(task).parameters}
    keys |= set(TASKS)
    missing = sorted(k for k in keys if f"`{k}`" not in page)
    assert not missing, f"docs/reference.md does not document {missing}"
