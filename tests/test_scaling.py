"""benchmarks/scaling.py's bookkeeping without synthesis: resumable rows, the summary, the figures."""

from __future__ import annotations

import sys

import pytest

scaling = pytest.importorskip("benchmarks.scaling")
pytest.importorskip("matplotlib")


def fake_row(kind: str, size: int, model, run, out) -> dict:
    params = sum(a.size for a in model.parameters())
    return {"kind": kind, "layers": " ".join(map(str, model.layers)), "grid [cells]": size if kind == "kan" else "",
            "params [count]": params, "LUT [cells]": 100, "FF [cells]": 100, "SRL [cells]": 0,
            "DSP [cells]": 58 if kind == "kan" else 7 * size, "CARRY [cells]": 0, "LUTRAM [cells]": 0, "BRAM [cells]": 0,
            "latency [cycles]": 10, "step [cycles]": 14, "II [cycles]": 1, "D [samples per layer]": "13 7",
            "accuracy_last20pct [fraction]": 0.9, "synth_time [s]": 1.0, "train_time [s]": 1.0}


def test_a_rerun_skips_the_points_already_measured(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(scaling, "measure", lambda *a: calls.append(a[:2]) or fake_row(*a))
    args = ["scaling.py", "--grids", "4", "8", "--hidden", "4", "8", "--n", "1000", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", args)
    assert scaling.main() == 0
    assert calls == [("kan", 4), ("kan", 8), ("mlp", 4), ("mlp", 8)]
    monkeypatch.setattr(sys, "argv", args[:-4] + ["16", "--n", "1000", "--out", str(tmp_path)])
    assert scaling.main() == 0
    assert calls[4:] == [("mlp", 16)]  # only the new point
    out = capsys.readouterr().out
    assert "KAN DSP across G: 58..58 (max/min 1.00)" in out and "MLP DSP per parameter" in out
    assert len(scaling.read_rows(tmp_path / "scaling.csv")) == 5
    assert (tmp_path / "scaling.png").is_file() and (tmp_path / "scaling_accuracy.png").is_file()
