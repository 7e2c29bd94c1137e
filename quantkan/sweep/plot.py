"""Figures of a sweep's results table: metric vs bits, metric vs parameters, metric vs LUT / DSP.

One panel per task; one series per model (kind, layers); seeds averaged with their
spread as error bars.  The resource figure draws each series' Pareto front (fewer cells
and a better metric) over the points, only when the table has synthesis columns.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from quantkan.plot import pyplot

__all__ = ["sweep_figures", "pareto"]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def pareto(cost: np.ndarray, score: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Indices of the points no other point beats on both cost (lower) and score, by cost."""
    order = np.lexsort((-score if higher_is_better else score, cost))
    best, front = None, []
    for i in order:
        s = score[i] if higher_is_better else -score[i]
        if best is None or s > best:
            front.append(i)
            best = s
    return np.array(front, dtype=np.int64)


def _metric_column(header: list[str], task_rows: list[dict[str, str]]) -> str | None:
    for column in header:
        if re.fullmatch(r"(mse|accuracy)_mean \[.*\]", column) and any(_number(r[column]) is not None
                                                                        for r in task_rows):
            return column
    return None


def _series(rows: list[dict[str, str]], x_col: str, y_col: str) -> dict[str, tuple[np.ndarray, ...]]:
    """Per model series: x values, mean and std of y over seeds."""
    groups: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        x, y = _number(r.get(x_col)), _number(r.get(y_col))
        if x is not None and y is not None:
            label = r["model"].split(", grid")[0].split(", weight")[0] + ")"
            if "model.bits [bit]" in r and x_col != "model.bits [bit]":
                label = f"{label} {r['model.bits [bit]']}b"
            groups[label][x].append(y)
    out = {}
    for label, by_x in groups.items():
        xs = np.array(sorted(by_x))
        out[label] = (xs, np.array([np.mean(by_x[x]) for x in xs]), np.array([np.std(by_x[x]) for x in xs]))
    return out


def sweep_figures(results: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the figures the table supports into ``out_dir``; returns their paths."""
    plt = pyplot()
    with Path(results).open(newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = [r for r in reader if r.get("status") == "ok"]
    if not rows:
        raise ValueError(f"{results} has no finished points to plot")
    tasks = sorted({r.get("task.name", "drift") or "drift" for r in rows})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = [("bits", "model.bits [bit]", "bits"), ("params", "params [count]", "parameters"),
               ("lut", "LUT [cells]", "LUTs (yosys, xcup)"), ("dsp", "DSP [cells]", "DSPs (yosys, xcup)")]
    written = []
    for name, x_col, x_label in figures:
        if x_col not in header or not any(_number(r.get(x_col)) is not None for r in rows):
            continue
        fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.8), dpi=110, squeeze=False)
        for ax, task in zip(axes[0], tasks):
            task_rows = [r for r in rows if (r.get("task.name") or "drift") == task]
            metric = _metric_column(header, task_rows)
            if metric is None:
                continue
            higher = metric.startswith("accuracy")
            for label, (xs, mean, std) in sorted(_series(task_rows, x_col, metric).items()):
                if name in ("lut", "dsp"):
                    front = pareto(xs, mean, higher)
                    ax.scatter(xs, mean, s=10, alpha=0.4)
                    ax.plot(xs[front], mean[front], marker="o", lw=1.2, label=label)
                else:
                    ax.errorbar(xs, mean, yerr=std, marker="o", ms=3, lw=1.2, capsize=2, label=label)
            if not higher:
                ax.set_yscale("log")
            if name == "params":
                ax.set_xscale("log")
            ax.set_title(task, fontsize=9)
            ax.set_xlabel(x_label)
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{Path(results).stem}-{name}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
