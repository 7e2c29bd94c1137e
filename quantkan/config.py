"""Example files: a TOML document with [model], [learning] and [task] tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_config", "read_toml", "LEARNING_KEYS", "TASK_KEYS"]

SECTIONS = {"model", "learning", "task"}
LEARNING_KEYS = {"lr", "delay", "schedule", "pipeline", "rounding", "seed"}
TASK_KEYS = {"name", "n", "seed"}


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file as a dict, or a ValueError that names the file (missing, or not TOML)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{what} {path} is not valid TOML: {err}") from None


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and shape-check an example file; model settings are checked by the model itself."""
    path = Path(path)
    data = read_toml(path)
    unknown = set(data) - SECTIONS
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}; expected {sorted(SECTIONS)}")
    if "model" not in data:
        raise ValueError(f"{path}: missing the [model] section")
    for section, keys in (("learning", LEARNING_KEYS), ("task", TASK_KEYS)):
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [{section}] must be a table")
        extra = set(table) - keys
        if extra and section == "learning":
            raise ValueError(f"{path}: unknown [{section}] settings {sorted(extra)}; known: {sorted(keys)}")
    return data
