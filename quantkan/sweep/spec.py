"""Sweep specs: a TOML grid (or list) of settings over model, learning and task, with seeds.

    [sweep]
    seeds = [0, 1, 2]            # every point runs once per seed (initial parameters, LFSRs)
    engine = "auto"              # auto | compiled | numpy
    hardware = []                # e.g. ["report"]: yosys resources per KAN point (see hardware.py)
    fraction = 0.2               # metric over the last fraction of each regime

    [base.learning]              # settings every point starts from (the tables of a train config)
    lr = 0.125

    [grid]                       # the cross product of these lists
    "model.kind" = ["kan", "mlp"]
    "model.bits" = [8, 12, 16]
    "task.name" = ["drift", "qubit"]

    [[points]]                   # and/or explicit points (each over base)
    "model.kind" = "kan"
    "learning.delay" = 4

A point's settings are dotted keys ``section.name``: model, learning and task settings
become a train config (a model without ``layers`` is the default model of its kind and
bits, as ``quantkan train --model KIND --bits B`` builds it); hardware settings go to the
hardware plugins (``"hardware.schedule" = ["pipelined", "sequential"]`` for ``report``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quantkan.config import LEARNING_KEYS, read_toml
from quantkan.engine import ENGINES
from quantkan.tasks import TASKS

__all__ = ["SECTIONS", "Point", "SweepSpec", "load_spec", "parse_spec"]

SECTIONS = ("model", "learning", "task", "hardware")
_SWEEP_KEYS = {"seeds", "engine", "hardware", "fraction"}
_TOP_KEYS = {"sweep", "base", "grid", "points"}


@dataclass(frozen=True)
class Point:
    """One run: settings (dotted keys), its seed, and what else to measure."""

    settings: dict[str, Any]
    seed: int
    hardware: tuple[str, ...] = ()
    fraction: float = 0.2

    @property
    def key(self) -> str:
        """Config hash: what determines the point's results (not the engine, which is bit-exact)."""
        text = json.dumps({"settings": self.settings, "seed": self.seed, "hardware": list(self.hardware),
                           "fraction": self.fraction}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def hardware_options(self) -> dict[str, Any]:
        """The ``hardware.*`` settings, for the hardware plugins (e.g. the RTL schedule)."""
        return {k.split(".", 1)[1]: v for k, v in self.settings.items() if k.startswith("hardware.")}

    def train_config(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, overrides) for :func:`quantkan.train.build_run`."""
        config: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
        for key, value in self.settings.items():
            section, name = key.split(".", 1)
            config[section][name] = value
        config.pop("hardware")
        config["learning"]["seed"] = self.seed
        overrides: dict[str, Any] = {}
        model = config["model"]
        if "layers" not in model:  # the default model of its kind, as `quantkan train --model --bits`
            overrides = {"kind": model.pop("kind", "kan"), "bits": model.pop("bits", None)}
            if model:
                raise ValueError(f"model settings {sorted(model)} need model.layers as well")
        return config, overrides


@dataclass(frozen=True)
class SweepSpec:
    points: list[Point]
    engine: str = "auto"
    hardware: tuple[str, ...] = ()
    source: str = ""
    swept: tuple[str, ...] = field(default=())  # the settings that vary between points

    def __iter__(self) -> Iterator[Point]:
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)


def _dotted(key: Any, where: str) -> str:
    if not isinstance(key, str) or key.count(".") < 1 or key.split(".", 1)[0] not in SECTIONS:
        raise ValueError(f"{where}: setting {key!r} must be 'section.name' with section one of {SECTIONS}")
    section, name = key.split(".", 1)
    if section == "hardware":
        from quantkan.sweep.hardware import HARDWARE

        known = sorted({o for plugin in HARDWARE.values() for o in plugin.options})
        if name not in known:
            raise ValueError(f"{where}: unknown hardware setting {key!r}; known: {['hardware.' + k for k in known]}")
    if section == "learning" and name not in LEARNING_KEYS - {"seed"}:
        raise ValueError(f"{where}: unknown learning setting {key!r}; known: "
                         f"{sorted('learning.' + k for k in LEARNING_KEYS - {'seed'})} (seeds go in [sweep])")
    return key


def _flatten_base(base: Any) -> dict[str, Any]:
    if not isinstance(base, dict):
        raise ValueError(f"[base] must be a table of [base.model], [base.learning], [base.task], got {base!r}")
    flat = {}
    for section, table in base.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise ValueError(f"[base.{section}] is not a settings table; expected one of {SECTIONS}")
        for name, value in table.items():
            flat[_dotted(f"{section}.{name}", "[base]")] = value
    return flat


def _grid_points(grid: Any) -> list[dict[str, Any]]:
    if not isinstance(grid, dict):
        raise ValueError(f"[grid] must be a table of 'section.name' = [values], got {grid!r}")
    for key, values in grid.items():
        _dotted(key, "[grid]")
        if not isinstance(values, list) or not values:
            raise ValueError(f"[grid] {key!r} must be a non-empty list of values, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _listed_points(points: Any) -> list[dict[str, Any]]:
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise ValueError(f"[[points]] must be a list of tables of 'section.name' = value, got {points!r}")
    for p in points:
        for key in p:
            _dotted(key, "[[points]]")
    return [dict(p) for p in points]


def _check_task(settings: dict[str, Any]) -> None:
    name = settings.get("task.name", "drift")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r} in a sweep point; known tasks: {', '.join(sorted(TASKS))}")


def parse_spec(data: dict[str, Any], source: str = "spec") -> SweepSpec:
    """Check a spec's shape (ValueError naming the culprit) and expand it into points."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{source}: unknown sections {sorted(unknown)}; expected {sorted(_TOP_KEYS)}")
    sweep = data.get("sweep", {})
    extra = set(sweep) - _SWEEP_KEYS
    if extra:
        raise ValueError(f"{source}: unknown [sweep] settings {sorted(extra)}; known: {sorted(_SWEEP_KEYS)}")
    seeds = sweep.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           and s >= 0 for s in seeds):
        raise ValueError(f"{source}: [sweep] seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    engine = sweep.get("engine", "auto")
    if engine not in ENGINES:
        raise ValueError(f"{source}: [sweep] engine must be one of {ENGINES}, got {engine!r}")
    from quantkan.sweep.hardware import HARDWARE

    hardware = sweep.get("hardware", [])
    if not isinstance(hardware, list) or any(h not in HARDWARE for h in hardware):
        raise ValueError(f"{source}: [sweep] hardware must list some of {sorted(HARDWARE)}, got {hardware!r}")
    fraction = sweep.get("fraction", 0.2)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"{source}: [sweep] fraction must be a number in (0, 1], got {fraction!r}")
    base = _flatten_base(data.get("base", {}))
    variants = []
    if "grid" in data:
        variants += _grid_points(data["grid"])
    if "points" in data:
        variants += _listed_points(data["points"])
    if not variants:
        variants = [{}]
    points = []
    for variant in variants:
        settings = {**base, **variant}
        _check_task(settings)
        points += [Point(settings, seed, tuple(hardware), float(fraction)) for seed in seeds]
    swept = tuple(sorted({k for v in variants for k in v}))
    return SweepSpec(points, engine, tuple(hardware), source, swept)


def load_spec(path: str | Path) -> SweepSpec:
    return parse_spec(read_toml(path, "sweep spec"), str(path))
