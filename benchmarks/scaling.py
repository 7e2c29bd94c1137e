"""KAN vs MLP on chip as the parameter count grows: the reference paper's Figure 1, measured here.

On the qubit-readout task, 16-bit: a KAN of fixed shape (examples/qubit_kan.toml, [2, 2, 1],
S = 3) with grid G = 4 .. 64, and [2, H, 1] MLPs (examples/qubit_mlp.toml) whose hidden width
H spans the same parameter counts and beyond.  Per point, all measured:

- parameters (coefficients; weights + biases);
- yosys ``synth_xilinx -family xcup`` LUT / FF / SRL / DSP / CARRY / LUTRAM cells / BRAM of
  the pipelined learner (the exported Verilog, parameter port included);
- latency, learning step and II in cycles, and D per layer, from the generator;
- accuracy over the last 20% of each regime, from the golden learner with that same D.

One CSV row per point (``build/scaling/scaling.csv``, every column named with its unit as
the sweep CSV names them, ``LUT [cells]``),
written as each point finishes: a rerun skips the points already there (resumable).
Then ``scaling.png`` (DSP, FF, LUT, learning step vs parameters, log x; KAN and MLP as two
lines) and ``scaling_accuracy.png`` (accuracy vs parameters).

    .venv/bin/python benchmarks/scaling.py [--grids 4 8 16 32 64] [--hidden 4 8 16 32 64 128 256 512 1024]
                                           [--out build/scaling]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from quantkan.models import KAN, MLP, Model
from quantkan.rtl.commands import load_model
from quantkan.rtl.export import export_verilog
from quantkan.rtl.synth import synth_xilinx
from quantkan.tasks import windowed_metric
from quantkan.train import train

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
COLUMNS = ("kind", "layers", "grid [cells]", "params [count]", "LUT [cells]", "FF [cells]", "SRL [cells]", "DSP [cells]",
           "CARRY [cells]", "LUTRAM [cells]", "BRAM [cells]", "latency [cycles]", "step [cycles]", "II [cycles]",
           "D [samples per layer]", "accuracy_last20pct [fraction]", "synth_time [s]", "train_time [s]")


def point(kind: str, size: int, n: int) -> tuple[Model, dict]:
    """The model of one point (kind 'kan': grid G = size; 'mlp': hidden width H = size) and its
    learning settings, from the example configs."""
    model, stream, learning = load_model(str(EXAMPLES / f"qubit_{kind}.toml"), None, n)
    if kind == "kan":
        model = KAN(model.layers, grid=(model.grid.lo, model.grid.hi, size), order=model.order,
                    lut_bits=model.lut_bits, bits=16, seed=learning["seed"])
    else:
        model = MLP([model.layers[0], size, model.layers[-1]], bits=16, seed=learning["seed"])
    return model, {"stream": stream, **learning}


def measure(kind: str, size: int, model: Model, run: dict, out: Path) -> dict:
    """One row: export, synthesize, train with the generator's D."""
    folder = out / f"{kind}{size}"
    path = export_verilog(model, folder, schedule="pipelined", lr=run["lr"], rounding=run["rounding"], seed=run["seed"])
    meta = json.loads((folder / "quantkan_rtl.json").read_text())
    t = meta["timing"]
    res = synth_xilinx(path, meta["top"], family="xcup")
    started = time.perf_counter()
    result = train(model, run["stream"], lr=run["lr"], delay=t["delays"], rounding=run["rounding"], seed=run["seed"],
                   twin=False, show_progress=False)
    accuracy = float(np.mean(list(windowed_metric(run["stream"], result.fixed, 0.2).values())))
    return {"kind": kind, "layers": " ".join(map(str, model.layers)),
            "grid [cells]": size if kind == "kan" else "",
            "params [count]": sum(a.size for a in model.parameters()), "LUT [cells]": res.lut, "FF [cells]": res.ff,
            "SRL [cells]": res.srl, "DSP [cells]": res.dsp, "CARRY [cells]": res.carry, "LUTRAM [cells]": res.lutram,
            "BRAM [cells]": res.bram, "latency [cycles]": t["latency"], "step [cycles]": t["step"], "II [cycles]": t["ii"],
            "D [samples per layer]": " ".join(map(str, t["delays"])),
            "accuracy_last20pct [fraction]": round(accuracy, 4), "synth_time [s]": round(res.seconds, 1),
            "train_time [s]": round(time.perf_counter() - started, 1)}


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _key(row: dict) -> tuple[str, str]:
    return row["kind"], str(row["layers"]) + "/" + str(row["grid [cells]"])


def _log_x(ax) -> None:
    """Parameters on a log axis, labelled at the decades only (minor labels collide)."""
    from matplotlib.ticker import NullFormatter
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("parameters")


def plot(rows: list[dict], out: Path) -> list[Path]:
    """The paper's layout: resources and step latency vs parameters; and accuracy vs parameters."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {kind: sorted((r for r in rows if r["kind"] == kind), key=lambda r: int(r["params [count]"]))
              for kind in ("kan", "mlp")}
    style = {"kan": dict(marker="o", label="KAN [2, 2, 1], G = 4..64"), "mlp": dict(marker="s", label="MLP [2, H, 1]")}
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), dpi=110)
    for ax, (col, title) in zip(axes, [("DSP [cells]", "DSP"), ("FF [cells]", "FF"), ("LUT [cells]", "LUT"),
                                       ("step [cycles]", "learning step (cycles)")]):
        for kind, rs in series.items():
            if rs:
                ax.plot([int(r["params [count]"]) for r in rs], [float(r[col]) for r in rs], **style[kind])
        _log_x(ax)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("qubit readout, 16-bit, pipelined (II = 1); yosys synth_xilinx -family xcup", fontsize=9)
    fig.tight_layout()
    resources = out / "scaling.png"
    fig.savefig(resources)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=110)
    for kind, rs in series.items():
        if rs:
            ax.plot([int(r["params [count]"]) for r in rs], [float(r["accuracy_last20pct [fraction]"]) for r in rs],
                    **style[kind])
    _log_x(ax)
    ax.set_ylabel("accuracy, last 20% of each regime")
    ax.set_title("golden learner with the hardware's D", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    accuracy = out / "scaling_accuracy.png"
    fig.savefig(accuracy)
    plt.close(fig)
    return [resources, accuracy]


def summary(rows: list[dict]) -> str:
    """DSP of the KAN across G (max/min) and of the MLP per parameter (least-squares slope)."""
    lines = []
    kan = [int(r["DSP [cells]"]) for r in rows if r["kind"] == "kan"]
    if kan:
        lines.append(f"KAN DSP across G: {min(kan)}..{max(kan)} (max/min {max(kan) / max(1, min(kan)):.2f})")
    mlp = [(int(r["params [count]"]), int(r["DSP [cells]"])) for r in rows if r["kind"] == "mlp"]
    if len(mlp) > 1:
        p, d = np.array(mlp, float).T
        lines.append(f"MLP DSP per parameter (least-squares slope): {np.polyfit(p, d, 1)[0]:.3f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--hidden", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128, 256, 512, 1024])
    parser.add_argument("--n", type=int, default=10000, help="task samples per accuracy run")
    parser.add_argument("--out", default="build/scaling")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "scaling.csv"
    rows = read_rows(table)
    done = {_key(r) for r in rows}
    started = time.perf_counter()
    for kind, sizes in (("kan", args.grids), ("mlp", args.hidden)):
        for size in sizes:
            model, run = point(kind, size, args.n)
            key = _key({"kind": kind, "layers": " ".join(map(str, model.layers)),
                        "grid [cells]": size if kind == "kan" else ""})
            if key in done:
                print(f"{kind} {size}: in {table} already", file=sys.stderr)
                continue
            print(f"{kind} {size}: export, synthesize, train ...", file=sys.stderr, flush=True)
            row = measure(kind, size, model, run, out)
            new = not table.is_file()
            with open(table, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=COLUMNS)
                if new:
                    writer.writeheader()
                writer.writerow(row)
            rows.append({k: str(v) for k, v in row.items()})
            done.add(key)
    print(f"{'kind':<5}{'layers':>10}{'G':>4}{'params':>8}{'LUT':>8}{'FF':>8}{'DSP':>6}{'LUTRAM':>8}{'BRAM':>6}"
          f"{'lat':>5}{'step':>6}{'II':>4}  {'D':<8}{'acc':>7}")
    for r in sorted(rows, key=lambda r: (r["kind"], int(r["params [count]"]))):
        print(f"{r['kind']:<5}{r['layers']:>10}{r['grid [cells]']:>4}{r['params [count]']:>8}{r['LUT [cells]']:>8}"
              f"{r['FF [cells]']:>8}{r['DSP [cells]']:>6}{r['LUTRAM [cells]']:>8}{r['BRAM [cells]']:>6}"
              f"{r['latency [cycles]']:>5}{r['step [cycles]']:>6}{r['II [cycles]']:>4}  {r['D [samples per layer]']:<8}"
              f"{float(r['accuracy_last20pct [fraction]']):>7.3f}")
    print(summary(rows))
    for path in plot(rows, out):
        print(f"wrote {path}")
    print(f"this run: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
