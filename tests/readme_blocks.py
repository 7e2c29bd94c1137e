"""The README's fenced code blocks, and the rule by which the tests run them.

* ``python`` blocks run as written, each on its own (its own imports and data), in a scratch
  folder that has ``examples/`` beside it; blocks that use TensorFlow run in the Keras
  environment (``tests/keras/test_readme_keras.py``), the others in ``tests/test_readme.py``.
* ``sh`` blocks are syntax-checked with ``bash -n``.  In them, every ``quantkan`` command is
  parsed by the real CLI and the files it reads must exist, every ``make`` target must exist
  in the Makefile, and the quick ``quantkan`` commands (:data:`RUN`) really run, in order, in
  one scratch folder.  Commands that need a board, Vivado/Vitis, minutes of simulation or
  synthesis, or the Keras environment are parsed only.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: quantkan commands that run for real when a README shell block names them (seconds each).
RUN = {("quantize",), ("numbers",), ("boards",), ("train",), ("compare",), ("export", "verilog"), ("export", "hls")}


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # where the block starts in README.md (1-based), for messages
    text: str

    @property
    def needs_keras(self) -> bool:
        return bool(re.search(r"^\s*(import tensorflow|from qkeras|from quantkan\.keras)", self.text, re.M))

    def commands(self) -> list[list[str]]:
        """The shell block's commands as argument lists: continuations joined, comments and
        ``&&`` chains split."""
        joined = re.sub(r"\\\n", " ", self.text)
        found = []
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                found.append(words[:cut])
                words = words[cut + 1:]
        return [c for c in found if c]


def blocks(path: Path = README) -> list[Block]:
    found, language, start, lines = [], None, 0, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence and language is None:
            language, start, lines = fence[1] or "text", number, []
        elif line.startswith("```") and language is not None:
            found.append(Block(language, start, "\n".join(lines) + "\n"))
            language = None
        elif language is not None:
            lines.append(line)
    assert language is None, f"{path}: the code block opened at line {start} is never closed"
    return found


def block_id(block: Block) -> str:
    return f"{block.language}-line{block.line}"
