"""Run a sweep on Dask distributed and keep its results in one CSV, a row per finished point.

Points go to a Dask cluster (a LocalCluster in this process by default, or an existing
scheduler), the seeds of one setting as one task (an engine population); rows are appended
and flushed as tasks finish, so an interrupted sweep loses only the points in flight, and a
rerun skips every point whose config hash is already there.  Column names carry their unit
(``bits [bit]``, ``train_time [s]``, ``mse_r0 [target^2]``; ``[1]`` for plain numbers);
text columns (model, task name, status, versions) have none.
"""

from __future__ import annotations

import csv
import json
import logging
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from quantkan.models import Model
from quantkan.sweep.hardware import HARDWARE
from quantkan.sweep.spec import Point, SweepSpec
from quantkan.tasks import Stream, windowed_metric

__all__ = ["METRIC_UNITS", "ResultsTable", "columns_of", "run_point", "run_seeds", "run_sweep", "setting_column"]

#: Units of the task metrics, as they appear in column names.
METRIC_UNITS = {"mse": "target^2", "accuracy": "fraction"}
#: Units of known numeric settings; other numbers are "[1]", text settings carry none.
SETTING_UNITS = {"model.bits": "bit", "model.lut_bits": "bit", "learning.delay": "samples", "task.n": "samples"}
DONE = ("ok", "invalid")  # statuses a rerun skips (an invalid config stays invalid)


def setting_column(key: str, value: Any) -> str:
    """The column of a setting: its dotted name with a unit when it is a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return key
    return f"{key} [{SETTING_UNITS.get(key, '1')}]"


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def _versions() -> dict[str, str]:
    out = {"python_version": platform.python_version()}
    for name in ("quantkan", "numpy", "numba", "dask", "distributed"):
        try:
            out[f"{name}_version"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[f"{name}_version"] = ""
    return out


def _regimes(spec: SweepSpec) -> list[tuple[str, int]]:
    """(metric, regimes) of every task the spec streams, for the header."""
    from quantkan.tasks import make_task

    seen: dict[str, tuple[str, int]] = {}
    for point in spec:
        task = {k.split(".", 1)[1]: v for k, v in point.settings.items() if k.startswith("task.")}
        key = json.dumps(task, sort_keys=True)
        if key not in seen:
            name = task.pop("name", "drift")
            stream = make_task(name, **task)
            seen[key] = (stream.metric, stream.n_regimes)
    return sorted(set(seen.values()))


def columns_of(spec: SweepSpec) -> list[str]:
    """The results header: identity, settings, model, scores per regime, speed, hardware, versions."""
    settings = sorted({setting_column(k, v) for p in spec for k, v in p.settings.items()})
    scores = []
    for metric, regimes in _regimes(spec):
        unit = METRIC_UNITS[metric]
        scores += [f"{metric}_mean [{unit}]"] + [f"{metric}_r{r} [{unit}]" for r in range(regimes)]
    hardware = [c for name in spec.hardware for c in HARDWARE[name].columns]
    return (["config_hash", "status", *settings, "seed [1]", "model", "params [count]", "engine",
             "samples [count]", "D [samples]", *dict.fromkeys(scores), "train_time [s]", "throughput [samples/s]",
             *hardware, "error", *_versions(), "finished [UTC]"])


def _identity(point: Point) -> dict[str, Any]:
    row: dict[str, Any] = {"config_hash": point.key, "seed [1]": point.seed, **_versions()}
    row.update({setting_column(k, v): _cell(v) for k, v in point.settings.items()})
    return row


def _invalid(point: Point, err: ValueError) -> dict[str, Any]:
    return {**_identity(point), "status": "invalid", "error": str(err), "finished [UTC]": _now()}


def _scored(point: Point, built: tuple[Model, Stream, dict[str, Any]], predictions: np.ndarray, engine: str,
            seconds: float, workdir: str | None, delays: list[int]) -> dict[str, Any]:
    """A finished point's row: scores per regime, the update delay D it learned with (per layer),
    speed, then any hardware results."""
    model, stream, learning = built
    unit = METRIC_UNITS[stream.metric]
    scores = {f"{stream.metric}_r{r} [{unit}]": v
              for r, v in windowed_metric(stream, predictions, point.fraction).items()}
    row = {**_identity(point), **scores, "status": "ok", "model": repr(model),
           "params [count]": sum(p.size for p in model.parameters()), "engine": engine, "samples [count]": stream.n,
           "D [samples]": _cell([int(d) for d in delays]),
           f"{stream.metric}_mean [{unit}]": float(np.mean(list(scores.values()))),
           "train_time [s]": round(seconds, 4), "throughput [samples/s]": round(stream.n / seconds)}
    for name in point.hardware:
        row.update(HARDWARE[name].run(model, learning, point.hardware_options,
                                      Path(workdir or "build/sweep") / point.key / name))
    row["finished [UTC]"] = _now()
    return row


def run_point(point: Point, engine: str = "auto", workdir: str | None = None) -> dict[str, Any]:
    """Train one point (golden or compiled) and score it per regime: its results row."""
    from quantkan.engine import EngineLearner
    from quantkan.train import build_run, train

    try:
        built = build_run(*point.train_config())
    except ValueError as err:
        return _invalid(point, err)
    model, stream, learning = built
    start = time.perf_counter()
    result = train(model, stream, twin=False, show_progress=False, engine=engine, check_delay=False, **learning)
    name = "compiled" if isinstance(result.learner, EngineLearner) else "numpy"
    return _scored(point, built, result.fixed, name, time.perf_counter() - start, workdir, result.delays)


def run_seeds(points: Sequence[Point], engine: str = "auto", workdir: str | None = None) -> list[dict[str, Any]]:
    """Points that differ only in their seed, as one engine population on their shared stream.

    The error bars of a setting cost one compiled call; ``train_time`` is the population's
    time shared among its points.  Without the engine, point by point (:func:`run_point`)."""
    from quantkan.engine import EngineUnsupported, Population, available
    from quantkan.golden import OnlineLearner
    from quantkan.train import build_run, learner_settings

    rows, built, ready = [], [], []
    for point in points:
        try:
            built.append(build_run(*point.train_config()))
            ready.append(point)
        except ValueError as err:
            rows.append(_invalid(point, err))
    if not ready:
        return rows
    try:
        if engine == "numpy" or not available():
            raise EngineUnsupported(engine)
        learners = [OnlineLearner(model, **learner_settings(model, learning)) for model, _, learning in built]
        population = Population(learners)
    except EngineUnsupported:
        return rows + [run_point(point, engine, workdir) for point in ready]
    model, stream, _ = built[0]
    start = time.perf_counter()
    y = population.run_raw(model.types.input.quantize(stream.x), model.types.output.quantize(stream.target))
    population.flush()
    share = (time.perf_counter() - start) / len(ready)
    return rows + [_scored(point, b, b[0].types.output.to_float(y[p]), "compiled", share, workdir, learner.delays)
                   for p, (point, b, learner) in enumerate(zip(ready, built, learners))]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ResultsTable:
    """A CSV with a fixed header that grows one flushed row per finished point.

    Opening an existing table keeps its complete rows (a row cut by a crash is dropped) and
    rewrites it under the new header when the spec gained columns.
    """

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        self.path, self.columns = Path(path), list(columns)
        self.rows: list[dict[str, str]] = []
        rewrite = True
        if self.path.is_file() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as f:
                reader = csv.reader(f)
                header = next(reader, [])
                complete = [r for r in reader if len(r) == len(header)]
            self.rows = [dict(zip(header, r)) for r in complete]
            text = self.path.read_text()
            rewrite = header != self.columns or not text.endswith("\n") or text.count("\n") != len(complete) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if rewrite:
            with self.path.open("w", newline="") as f:
                writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(self.rows)

    def done(self) -> set[str]:
        return {r["config_hash"] for r in self.rows if r.get("status") in DONE}

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(row)
        self.rows.append({k: str(v) for k, v in row.items()})


def _warm_engine(engine: str) -> None:
    """Compile (or load from numba's cache) the engine once here, so workers load it from the cache."""
    from quantkan.engine import EngineUnsupported, available, make_learner
    from quantkan.models import KAN, MLP

    if engine == "numpy" or not available():
        return
    for model in (KAN([1, 1], bits=8), MLP([1, 2, 1], bits=8)):
        try:
            make_learner(model, engine).run_raw(np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64))
        except EngineUnsupported:
            return


def _client(scheduler: str | None, workers: int):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("quantkan sweep needs Dask distributed: pip install 'quantkan[sweep]'") from None
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _finished_rows(futures: dict[Any, int], summary: dict[str, Any], log: TextIO | None) -> Iterator[dict[str, Any]]:
    """Rows of the groups (future: its number of points) as they finish; a failed group is counted
    and logged, not fatal."""
    from dask.distributed import as_completed

    for future in as_completed(list(futures)):
        try:
            rows = future.result()
        except Exception as err:  # noqa: BLE001 - one group's failure must not stop the sweep
            summary["failed"] += futures[future]
            if log is not None:
                print(f"quantkan sweep: {futures[future]} points failed ({type(err).__name__}: {err}); "
                      "a rerun retries them", file=log)
            continue
        yield from rows


def run_sweep(spec: SweepSpec, output: str | Path, *, scheduler: str | None = None, workers: int = 2,
              workdir: str | Path | None = None, show_progress: bool = True,
              log: TextIO | None = sys.stderr) -> dict[str, Any]:
    """Run every point not yet in ``output``; a rerun after a crash continues where it stopped.

    Args:
        spec: the points (from :func:`~quantkan.sweep.spec.load_spec`).
        output: the results CSV, created or extended.
        scheduler: address of a running Dask scheduler; None starts a LocalCluster here.
        workers: worker processes of that LocalCluster (one thread each).
        workdir: where hardware plugins write (default: ``sweep-work`` beside ``output``).
        show_progress: draw the progress line (on a terminal).
        log: where failed points are reported (None: nowhere).

    Returns:
        ``points``, ``skipped`` (already in ``output``), ``ran``, ``failed`` and ``seconds`` (wall).
    """
    from quantkan.progress import progress

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    start = time.perf_counter()
    table = ResultsTable(output, columns_of(spec))
    done = table.done()
    todo = [p for p in spec if p.key not in done]
    summary = {"points": len(spec), "skipped": len(spec) - len(todo), "ran": 0, "failed": 0}
    if todo:
        _warm_engine(spec.engine)
        client, cluster = _client(scheduler, workers)
        try:
            folder = str(workdir) if workdir else str(Path(output).parent / "sweep-work")
            groups: dict[str, list[Point]] = {}
            for point in todo:  # one population per setting: its seeds
                groups.setdefault(json.dumps([point.settings, point.hardware, point.fraction], sort_keys=True),
                                  []).append(point)
            futures = client.map(run_seeds, list(groups.values()), engine=spec.engine, workdir=folder, pure=False)
            rows = _finished_rows(dict(zip(futures, map(len, groups.values()))), summary, log)
            for row in progress(rows, len(todo), "sweep", enabled=show_progress):
                table.append(row)
                summary["ran"] += 1
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    summary["seconds"] = time.perf_counter() - start
    return summary
