"""Pre-train a KAN offline in Keras, then let it keep learning online on the chip-exact model.

1. Train a Keras ``KANLayer`` (quantkan's grid, order and coefficient layout) on the first
   regime of the drifting 1-D regression, offline, with Adam.
2. ``to_quantkan``: quantize it into a 16-bit quantkan KAN (the types of
   examples/drift_kan.toml).
3. Stream the whole drifting task through the golden fixed-point learner (what the FPGA
   computes, bit for bit), predict-then-learn, next to its float64 twin, and next to the
   same KAN learning online from a random start.
4. Plot the running MSE of all three (out/keras_pretrain.png) and save the adapted model
   (out/keras_pretrain.qkan) for `quantkan export hls` / `quantkan export hls4ml`.

Needs the keras extra:  make venv-keras && .venv-keras/bin/python examples/keras_pretrain.py
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from quantkan import persist  # noqa: E402
from quantkan.keras import KANLayer, to_quantkan  # noqa: E402
from quantkan.models import KAN  # noqa: E402
from quantkan.plot import pyplot  # noqa: E402
from quantkan.tasks import make_task, running_metric  # noqa: E402
from quantkan.train import TrainResult, train  # noqa: E402

GRID, ORDER, TYPES = (-1.0, 1.0, 8), 3, {"coef": "ap_fixed<16,3,AP_RND_CONV,AP_SAT>"}
LEARNING = {"lr": 0.125, "rounding": "stochastic", "seed": 0}


def pretrain(x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> KAN:
    """Offline: a one-layer Keras KAN fitted to (x, y), then quantized."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.Sequential([tf.keras.layers.Input((1,)),
                                 KANLayer(1, grid=GRID, order=ORDER, types=TYPES, name="kan")])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="mse")
    history = model.fit(x.astype(np.float32), y.astype(np.float32), epochs=epochs, batch_size=32, verbose=0)
    print(f"Keras pre-training on {len(x)} samples of regime 0: MSE {history.history['loss'][0]:.3e} -> "
          f"{history.history['loss'][-1]:.3e} after {epochs} epochs")
    return to_quantkan(model)


def plot(results: dict[str, TrainResult], path: Path, window: int = 200) -> Path:
    plt = pyplot()
    stream = next(iter(results.values())).stream
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    for start, stop in stream.regime_bounds()[1::2]:
        ax.axvspan(start, stop, color="0.93", lw=0)
    n = np.arange(stream.n)
    pre = results["pre-trained"]
    ax.plot(n, running_metric(stream, pre.fixed, window), lw=1.4, label="pre-trained in Keras, golden (chip-exact)")
    ax.plot(n, running_metric(stream, pre.floating, window), lw=1.0, ls="--", label="pre-trained, float64 twin")
    ax.plot(n, running_metric(stream, results["from scratch"].fixed, window), lw=1.0, ls=":",
            label="random start, golden")
    ax.set_yscale("log")
    ax.set_xlabel("sample (regimes shaded alternately; Keras saw regime 0 offline)")
    ax.set_ylabel(f"running MSE (window {window})")
    ax.set_title(f"offline pre-training in Keras, then online learning through the drift\n{pre.learner.model!r}",
                 fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, TrainResult]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000, help="samples in the drifting stream (3 regimes)")
    parser.add_argument("--epochs", type=int, default=40, help="Keras epochs on regime 0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out", help="folder for the plot and the model file")
    args = parser.parse_args(argv)

    stream = make_task("drift", n=args.n, seed=args.seed)
    first = stream.regime == 0
    models = {"pre-trained": pretrain(stream.x[first], stream.target[first], args.epochs, args.seed),
              "from scratch": KAN([1, 1], grid=GRID, order=ORDER, types=TYPES, seed=args.seed)}
    results = {name: train(model, stream, show_progress=False, **LEARNING) for name, model in models.items()}
    for name, result in results.items():
        print(f"\n{name}, online on the golden model ({LEARNING['rounding']} rounding, lr {LEARNING['lr']}):")
        print(result.table())
    out = Path(args.out)
    print(f"\nwrote {plot(results, out / 'keras_pretrain.png')}")
    print(f"wrote {persist.save(models['pre-trained'], out / 'keras_pretrain.qkan', metadata={'task': 'drift'})}")
    return results


if __name__ == "__main__":
    main()
