"""Data files the commands need that live at the top of the repository (``boards/``, ``sim/``).

A wheel carries copies as ``quantkan/_data/<name>`` (setup.py puts them there); a source
checkout (``pip install -e .``) uses the repository's own folders, so an edit there is seen
at once.
"""

from __future__ import annotations

from pathlib import Path

from quantkan.errors import ToolError

__all__ = ["shipped_dir"]

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (``"boards"`` or ``"sim"``): the installed copy, else the source tree's."""
    for path in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if path.is_dir():
            return path
    raise ToolError(f"quantkan's {name}/ folder is missing from this installation ({_PACKAGE}); "
                    "reinstall quantkan (pip install --force-reinstall quantkan)")
