"""Learning-curve plots (matplotlib is an optional extra: pip install 'quantkan[plot]')."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantkan.tasks import running_metric
from quantkan.train import TrainResult


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plotting needs matplotlib: pip install 'quantkan[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def learning_curve(result: TrainResult, path: str | Path, window: int = 200, title: str = "") -> Path:
    """Running metric of the fixed-point model and its float twin, regimes shaded."""
    plt = _pyplot()
    stream = result.stream
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    for start, stop in stream.regime_bounds()[1::2]:
        ax.axvspan(start, stop, color="0.93", lw=0)
    n = np.arange(stream.n)
    ax.plot(n, running_metric(stream, result.fixed, window), lw=1.4, label="fixed point (golden)")
    if result.floating is not None:
        ax.plot(n, running_metric(stream, result.floating, window), lw=1.0, ls="--", label="float64 twin")
    if stream.metric == "mse":
        ax.set_yscale("log")
    ax.set_xlabel("sample")
    ax.set_ylabel(f"running {stream.metric} (window {window})")
    ax.set_title(title or f"{result.learner.model!r} on {stream.name}", fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
