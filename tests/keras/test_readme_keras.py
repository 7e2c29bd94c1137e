"""The README's Keras/QKeras/hls4ml code blocks run as written, in this (the Keras) environment.

The other blocks run in tests/test_readme.py; the rule is in tests/readme_blocks.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import ROOT, Block, block_id, blocks

KERAS_BLOCKS = [b for b in blocks() if b.language == "python" and b.needs_keras]


def test_the_readme_has_a_keras_block():
    assert KERAS_BLOCKS


@pytest.mark.parametrize("block", KERAS_BLOCKS, ids=block_id)
def test_keras_block_runs_as_written(block: Block, tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    done = subprocess.run([sys.executable, "-c", block.text], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin",
                                            "HOME": str(Path.home())})
    assert done.returncode == 0, f"README.md line {block.line}:\n{done.stderr[-3000:]}"
