"""Cached g++ builds against the ``ap_types`` headers that ship inside hls4ml.

Used by the number-system oracle tests and by the HLS backend's C simulation,
so that both compile against the very headers Vitis HLS users build with.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from quantkan.errors import ToolError

__all__ = ["ap_types_dir", "cache_dir", "build_executable"]


def ap_types_dir() -> Path:
    """The ap_types include folder of the installed hls4ml (not imported, only located)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise ToolError(
            "hls4ml is not installed; its ap_types headers are needed to compile C++ "
            "(pip install 'quantkan[hls]' or pip install hls4ml)")
    for location in spec.submodule_search_locations:
        path = Path(location) / "templates" / "vivado" / "ap_types"
        if (path / "ap_fixed.h").is_file():
            return path
    raise ToolError("hls4ml is installed but its templates/vivado/ap_types/ap_fixed.h is missing")


def cache_dir() -> Path:
    root = os.environ.get("QUANTKAN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "quantkan")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise ToolError(f"C++ compiler {cxx!r} not found; install g++ (apt-get install g++)")
    return cxx


def build_executable(sources: dict[str, str], name: str,
                     flags: Sequence[str] = ("-O1",), jobs: int | None = None,
                     shared: bool = False) -> Path:
    """Compile ``{filename: text}`` into one executable (or shared library), reusing an
    identical earlier build.

    Translation units compile in parallel (``jobs``, default: CPU count) because
    ap_fixed templates make each one slow.
    """
    if shared:
        flags = (*flags, "-fPIC")
    cxx = _compiler()
    include = ap_types_dir()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    digest = hashlib.sha256()
    for part in (version, str(include), " ".join(flags), *sorted(sources), *(sources[k] for k in sorted(sources))):
        digest.update(part.encode())
        digest.update(b"\0")
    target = cache_dir() / "build" / f"{name}-{digest.hexdigest()[:16]}"
    exe = target / name
    if exe.is_file():
        return exe
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cache_dir()))
    try:
        for filename, text in sources.items():
            (work / filename).write_text(text)
        units = [f for f in sources if f.endswith(".cpp")]

        def compile_unit(unit: str) -> Path:
            obj = work / (unit + ".o")
            cmd = [cxx, "-std=c++14", *flags, "-w", "-I", str(include), "-I", str(work),
                   "-c", str(work / unit), "-o", str(obj)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise ToolError(f"g++ failed on {unit}:\n{done.stderr[-4000:]}")
            return obj

        with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
            objects = list(pool.map(compile_unit, units))
        link = subprocess.run([cxx, *(["-shared"] if shared else []), *map(str, objects), "-o", str(work / name)],
                              capture_output=True, text=True)
        if link.returncode:
            raise ToolError(f"linking {name} failed:\n{link.stderr[-4000:]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = work / "done"
        staged.mkdir()
        shutil.move(str(work / name), staged / name)
        try:
            os.rename(staged, target)
        except OSError:  # another process finished the same build first
            pass
        return exe
    finally:
        shutil.rmtree(work, ignore_errors=True)
