"""Save and load models: one versioned, checksummed, pickle-free file.

A model file (suffix ``.qkan`` recommended) is a NumPy ``.npz`` archive holding

* ``header``: UTF-8 JSON as a 1-D uint8 array::

      {"format": "quantkan-model", "version": 1,
       "config": model_config(model),   # model.config() with ap_fixed type strings
       "parameters": [{"name": "coef_0", "shape": [3, 2, 11], "type": "ap_fixed<...>"}, ...],
       "sha256": "<hex digest of every parameter's little-endian int64 bytes, in order>",
       "metadata": {...}}

* one int64 array of raw fixed-point values per parameter, under its name.

:func:`load` rebuilds the model from the config and then checks every array
(present, integer, the shape the config implies, the header's type, in range of
that type, checksum) before copying it into the model, so a file that loads is a
model the learner accepts.  Every problem is a ``ValueError`` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from quantkan.models import KAN, MLP, Model, model_from_config

__all__ = ["FORMAT", "VERSION", "SUPPORTED_VERSIONS", "SUFFIX", "save", "load", "load_metadata",
           "model_config", "differences", "parameter_names", "parameter_digest"]

FORMAT = "quantkan-model"
VERSION = 1
SUPPORTED_VERSIONS = (1,)
SUFFIX = ".qkan"
HEADER_KEY = "header"

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


# -- naming and checksum ----------------------------------------------------
def parameter_names(model: Model) -> list[str]:
    """Names of ``model.parameters()`` in order: ``coef_L`` (KAN), ``weight_L`` / ``bias_L`` (MLP)."""
    n = len(model.parameters())
    if isinstance(model, KAN):
        return [f"coef_{l}" for l in range(n)]
    if isinstance(model, MLP):
        return [f"{kind}_{l}" for l in range(n // 2) for kind in ("weight", "bias")]
    return [f"param_{i}" for i in range(n)]


def parameter_digest(arrays: Sequence[np.ndarray]) -> str:
    """SHA-256 over each array's values as little-endian int64, C order, in sequence."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype="<i8").tobytes())
    return h.hexdigest()


# -- save --------------------------------------------------------------------
def model_config(model: Model) -> dict[str, Any]:
    """``model.config()`` with every type spelled as an ap_fixed string (None stays None).

    Built from ``model.types`` directly: ``dataclasses.asdict`` (used by
    ``model.config()``) recurses into the FixedType fields and would otherwise
    turn them into dict reprs that :func:`model_from_config` cannot parse.
    """
    config = dict(model.config())
    config["types"] = {f.name: (None if getattr(model.types, f.name) is None
                                else str(getattr(model.types, f.name)))
                       for f in fields(model.types)}
    return config


def differences(model: Model, other: Model) -> list[str]:
    """What makes ``other`` a different architecture from ``model`` ("layers [1, 1] vs [2, 4, 1]", ...).

    Parameter values are not compared: a trained file of the same architecture is what
    ``--model`` is for.  An empty list means the two are interchangeable.
    """
    a, b = model_config(model), model_config(other)
    found = [f"{key} {a.get(key)!r} vs {b.get(key)!r}" for key in sorted(set(a) | set(b))
             if key != "types" and a.get(key) != b.get(key)]
    if a.get("kind") == b.get("kind"):
        found += [f"type {name} {a['types'].get(name)} vs {b['types'].get(name)}"
                  for name in a["types"] if a["types"].get(name) != b["types"].get(name)]
    return found


def _header_bytes(header: dict[str, Any]) -> np.ndarray:
    text = json.dumps(header, allow_nan=False, sort_keys=False)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def save(model: Model, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``model`` (config + raw parameters + ``metadata``) to ``path``; return the path.

    ``metadata`` must be a JSON-able dict with string keys (tuples come back as
    lists).  The file is written beside ``path`` under a temporary name, synced
    and renamed over ``path``, so a crash leaves either the old file or the new
    one, never half of one.  ``path`` is used as given (``.qkan`` is recommended).
    """
    path = Path(path)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    bad_keys = [k for k in metadata if not isinstance(k, str)]
    if bad_keys:
        raise ValueError(f"metadata keys must be strings, got {bad_keys[0]!r}")

    params = model.parameters()
    types = model.parameter_types()
    names = parameter_names(model)
    entries, arrays = [], {}
    for name, arr, t in zip(names, params, types, strict=True):
        raw = t.check_raw(arr, f"parameter '{name}' value")  # never write a file load() rejects
        arrays[name] = np.ascontiguousarray(raw, dtype=np.int64)
        entries.append({"name": name, "shape": list(raw.shape), "type": str(t)})
    header = {"format": FORMAT, "version": VERSION, "config": model_config(model),
              "parameters": entries, "sha256": parameter_digest(list(arrays.values())),
              "metadata": metadata}
    try:
        header_arr = _header_bytes(header)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot save to {path}: metadata/config is not JSON-serializable: {err}") from None

    if path.is_dir():
        raise ValueError(f"cannot save the model to {path}: it is a folder; name a file, e.g. {path / 'model.qkan'}")
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"cannot save the model to {path}: {path.parent} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                                        prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # name the user's file, not the temporary one beside it
        raise OSError(err.errno, f"cannot save the model to {path}: {err.strerror or err}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{HEADER_KEY: header_arr}, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, f"cannot save the model to {path}: {err.strerror or err}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)
    return path


def _file_mode(path: Path) -> int:
    """Keep an existing file's permissions, else what ``open()`` would give (0666 & ~umask)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _sync_dir(directory: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory if str(directory) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- load --------------------------------------------------------------------
def _fail(path: Path, problem: str) -> ValueError:
    return ValueError(f"cannot load model file {str(path)!r}: {problem}")


class _Archive:
    """The arrays of a model file, read with ``allow_pickle=False``; errors name the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            raise FileNotFoundError(f"model file {str(path)!r} does not exist")
        if path.is_dir():
            raise _fail(path, "it is a directory, not a file")
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic not in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
            raise _fail(path, "not a quantkan model file (not a zip/.npz archive)")
        try:
            self.npz = np.load(path, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
            raise _fail(path, f"truncated or damaged archive ({err})") from None
        if not isinstance(self.npz, np.lib.npyio.NpzFile):  # pragma: no cover - magic checked above
            raise _fail(path, "not a zip/.npz archive")

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.npz.close()

    @property
    def names(self) -> list[str]:
        return list(self.npz.files)

    def array(self, name: str) -> np.ndarray:
        if name not in self.npz.files:
            raise _fail(self.path, f"array '{name}' is missing")
        try:
            return self.npz[name]
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
            # A flipped byte in the stored data fails the zip CRC; in an array's
            # .npy header it fails to parse.  Either way the file is damaged.
            raise _fail(self.path, f"array '{name}' is damaged: checksum mismatch or "
                                   f"unreadable data ({err})") from None

    def header(self) -> dict[str, Any]:
        if HEADER_KEY not in self.npz.files:
            raise _fail(self.path, f"no '{HEADER_KEY}' entry; not a quantkan model file")
        raw = self.array(HEADER_KEY)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise _fail(self.path, f"header must be a 1-D uint8 array, got {raw.dtype} "
                                   f"with shape {raw.shape}")
        try:
            header = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _fail(self.path, f"header is not valid JSON ({err})") from None
        if not isinstance(header, dict):
            raise _fail(self.path, f"header must be a JSON object, got {type(header).__name__}")
        _check_header(self.path, header)
        return header


def _check_header(path: Path, header: dict[str, Any]) -> None:
    fmt = header.get("format")
    if fmt != FORMAT:
        raise _fail(path, f"wrong format tag {fmt!r}; expected {FORMAT!r}")
    version = header.get("version")
    supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail(path, f"format version must be an integer, got {version!r} "
                          f"(supported versions: {supported})")
    if version not in SUPPORTED_VERSIONS:
        newer = " (written by a newer quantkan?)" if version > max(SUPPORTED_VERSIONS) else ""
        raise _fail(path, f"unsupported format version {version}{newer}; "
                          f"supported versions: {supported}")
    for key, kind in (("config", dict), ("parameters", list), ("sha256", str), ("metadata", dict)):
        if key not in header:
            raise _fail(path, f"header lacks '{key}'")
        if not isinstance(header[key], kind):
            raise _fail(path, f"header '{key}' must be a JSON {kind.__name__}, "
                              f"got {type(header[key]).__name__}")


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata dict saved with a model (header checked, parameters not read)."""
    path = Path(path)
    with _Archive(path) as archive:
        return archive.header()["metadata"]


def load(path: str | os.PathLike) -> Model:
    """Rebuild a model saved by :func:`save`, checking everything; ``ValueError`` if damaged."""
    path = Path(path)
    with _Archive(path) as archive:
        header = archive.header()
        try:
            model = model_from_config(header["config"])
        except (ValueError, TypeError, KeyError, ArithmeticError) as err:
            raise _fail(path, f"config rejected: {err}") from None

        params, types, names = model.parameters(), model.parameter_types(), parameter_names(model)
        entries = header["parameters"]
        if len(entries) != len(params):
            raise _fail(path, f"header lists {len(entries)} parameters, the config implies "
                              f"{len(params)} ({', '.join(names)})")
        arrays = []
        for i, (entry, name, param, t) in enumerate(zip(entries, names, params, types)):
            if not isinstance(entry, dict) or set(entry) != {"name", "shape", "type"}:
                raise _fail(path, f"parameter entry {i} must have exactly 'name', 'shape', "
                                  f"'type', got {entry!r}")
            if entry["name"] != name:
                raise _fail(path, f"parameter {i} is named {entry['name']!r}, expected {name!r}")
            if entry["shape"] != list(param.shape):
                raise _fail(path, f"parameter '{name}' has shape {entry['shape']} in the header, "
                                  f"the config implies {list(param.shape)}")
            if entry["type"] != str(t):
                raise _fail(path, f"parameter '{name}' has type {entry['type']!r} in the header, "
                                  f"the config implies {str(t)!r}")
            arr = archive.array(name)
            if not np.issubdtype(arr.dtype, np.integer):
                raise _fail(path, f"parameter '{name}' has dtype {arr.dtype}; raw fixed-point "
                                  "values must be integers")
            if arr.shape != param.shape:
                raise _fail(path, f"parameter '{name}' array has shape {list(arr.shape)}, "
                                  f"the config implies {list(param.shape)}")
            arrays.append(arr)
        extra = sorted(set(archive.names) - set(names) - {HEADER_KEY})
        if extra:
            raise _fail(path, f"unexpected arrays {extra}")

    # Range first: a wide integer would otherwise wrap when hashed as int64.
    checked = []
    for name, arr, t in zip(names, arrays, types):
        try:
            checked.append(t.check_raw(arr, f"parameter '{name}' value"))
        except ValueError as err:
            raise _fail(path, str(err)) from None
    digest = parameter_digest(checked)
    if digest != header["sha256"]:
        raise _fail(path, f"parameter checksum mismatch (sha256 {digest[:16]}... != stored "
                          f"{header['sha256'][:16]}...); the file is corrupted")
    for param, arr in zip(params, checked):
        param[...] = arr
    return model

