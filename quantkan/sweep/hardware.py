"""Hardware results a sweep point can ask for: each a name, its columns (with units), a function.

A plugin runs in the worker after training: ``run(model, learning, options, workdir) ->
{column: value}`` (missing columns stay empty, e.g. for a model kind the backend does not
build); ``options`` are the point's ``hardware.*`` settings, among the plugin's declared
``options``.  Other measurements (placed-and-routed timing, say) join with :func:`register`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantkan.models import Model

__all__ = ["HardwarePlugin", "HARDWARE", "register"]


Run = Callable[[Model, dict[str, Any], dict[str, Any], Path], dict[str, Any]]


@dataclass(frozen=True)
class HardwarePlugin:
    columns: tuple[str, ...]
    run: Run
    options: tuple[str, ...] = ()


HARDWARE: dict[str, HardwarePlugin] = {}


def register(name: str, columns: tuple[str, ...], run: Run, options: tuple[str, ...] = ()) -> None:
    """Make ``name`` usable in a spec's ``[sweep] hardware`` list (and ``options`` as hardware.* settings)."""
    HARDWARE[name] = HardwarePlugin(tuple(columns), run, tuple(options))


_SYNTH_COLUMNS = {"LUT": "LUT [cells]", "FF": "FF [cells]", "DSP": "DSP [cells]", "CARRY": "CARRY [cells]",
                  "BRAM": "BRAM [cells]"}


def _report(model: Model, learning: dict[str, Any], options: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """What ``quantkan report`` measures: the learner's Verilog, KAN or MLP (``schedule``, default
    pipelined; the point's ``learning.pipeline``), through yosys synth_xilinx (``family``, default xcup)."""
    from quantkan.rtl.export import export_verilog
    from quantkan.rtl.synth import synth_xilinx

    path = export_verilog(model, workdir, schedule=options.get("schedule", "pipelined"), lr=learning["lr"],
                          rounding=learning["rounding"], seed=learning["seed"], pipeline=learning["pipeline"])
    meta = json.loads((path.parent / "quantkan_rtl.json").read_text())
    res = synth_xilinx(path, meta["top"], family=options.get("family", "xcup"), log=path.parent / "synth.log")
    cells = res.as_dict()
    out: dict[str, Any] = {column: cells[key] for key, column in _SYNTH_COLUMNS.items()}
    out.update({"latency [cycles]": meta["timing"]["latency"], "II [cycles]": meta["timing"]["ii"],
                "synth_time [s]": round(res.seconds, 1)})
    return out


register("report", (*_SYNTH_COLUMNS.values(), "latency [cycles]", "II [cycles]", "synth_time [s]"), _report,
         options=("schedule", "family"))
