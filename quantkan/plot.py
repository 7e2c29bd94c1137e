"""Learning-curve plots (matplotlib is an optional extra: pip install 'quantkan[plot]')."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantkan.tasks import Stream, running_metric
from quantkan.train import TrainResult


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plotting needs matplotlib: pip install 'quantkan[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def learning_curve(result: TrainResult, path: str | Path, window: int = 200, title: str = "") -> Path:
    """Running metric of the fixed-point model and its float twin, regimes shaded."""
    series = [("fixed point (golden)", result.fixed)]
    if result.floating is not None:
        series.append(("float64 twin", result.floating))
    return curves(result.stream, series, path, window, title or f"{result.learner.model!r} on {result.stream.name}")


def compare(results: list[tuple[str, TrainResult]], path: str | Path, window: int = 200) -> Path:
    """Several runs on one stream (KAN vs MLP, several precisions) on one figure."""
    stream = results[0][1].stream
    return curves(stream, [(label, r.fixed) for label, r in results], path, window,
                  f"{stream.name}: {len(results)} models learning online (fixed point)")


def curves(stream: Stream, series: list[tuple[str, np.ndarray]], path: str | Path, window: int,
           title: str) -> Path:
    """Running metric of each (label, predictions) over ``stream``: regimes shaded and labelled
    above the axes, the legend below them, so neither ever hides a curve.

    Args:
        stream: the samples every series predicted, in order.
        series: (legend label, predictions of shape (n, outputs)) per curve.
        path: the PNG to write (folders are created).
        window: samples in the running metric.
        title: the figure's title.

    Returns:
        ``path``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.6), dpi=110)
    for r, (start, stop) in enumerate(stream.regime_bounds()):
        if r % 2:
            ax.axvspan(start, stop, color="0.93", lw=0)
        ax.text((start + stop) / 2, 1.01, f"regime {r}", transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=7, color="0.35")
    n = np.arange(stream.n)
    for i, (label, predictions) in enumerate(series):
        ax.plot(n, running_metric(stream, predictions, window), lw=1.4 if i == 0 else 1.0,
                ls="-" if i < 4 else "--", label=label)
    if stream.metric == "mse":
        ax.set_yscale("log")
    ax.set_xlim(0, max(stream.n - 1, 1))
    ax.set_xlabel("sample")
    ax.set_ylabel(f"running {stream.metric} (window {window})")
    ax.set_title(title, fontsize=9, pad=14)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=min(len(series), 2), fontsize=8, frameon=False)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
