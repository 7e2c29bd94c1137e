"""examples/keras_pretrain.py runs end to end (shortened) and pre-training pays off in regime 0."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keras_pretrain.py"


def test_keras_pretrain_example(tmp_path):
    spec = importlib.util.spec_from_file_location("keras_pretrain", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--n", "2400", "--epochs", "15", "--out", str(tmp_path)])
    assert (tmp_path / "keras_pretrain.png").stat().st_size > 10_000
    assert (tmp_path / "keras_pretrain.qkan").is_file()
    pre, scratch = (results[k].per_regime() for k in ("pre-trained", "from scratch"))
    assert pre[0][1] < 0.1 * scratch[0][1]  # regime 0: the offline fit is already there
    assert max(fx for _, fx, _ in pre) < 0.02  # and it keeps learning through the drift
