"""Model files: exact round trips, identical learning afterwards, and loud failures on damage."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from quantkan import persist
from quantkan.golden import OnlineLearner
from quantkan.models import KAN, MLP, model_from_config

COEF = "ap_fixed<14,3,AP_RND,AP_SAT>"


def make_kan(seed: int = 7) -> KAN:
    return KAN([2, 3, 1], grid=(-1, 1, 8), order=3, lut_bits=6, bits=12,
               types={"coef": COEF}, seed=seed)


def make_mlp(seed: int = 7) -> MLP:
    return MLP([2, 4, 1], bits=14, types={"weight": "ap_fixed<12,2,AP_RND_CONV,AP_SAT>"}, seed=seed)


def samples(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.9, 0.9, (n, 2))
    y = 0.5 * np.sin(2.0 * x[:, :1]) - 0.3 * x[:, 1:] ** 2
    return x, y


def trained(model):
    """Move the parameters away from any seeded initialisation, so a load that
    forgot to copy them could not pass by rebuilding the same random values."""
    learner = OnlineLearner(model, lr=2.0 ** -3)
    for x, y in zip(*samples(40, seed=9)):
        learner.step(x, y)
    return model


def read_members(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The decoded header and every array of a model file (read without pickle)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    return header, arrays


def write_members(path: Path, header: dict | bytes, arrays: dict[str, np.ndarray]) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode("utf-8")
    with open(path, "wb") as fh:
        np.savez(fh, header=np.frombuffer(raw, dtype=np.uint8), **arrays)
    return path


def digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.asarray(a).astype("<i8").tobytes())
    return h.hexdigest()


@pytest.fixture
def saved_kan(tmp_path):
    model = trained(make_kan())
    return model, persist.save(model, tmp_path / "kan.qkan", {"task": "drift", "n": 40})


# -- round trips -------------------------------------------------------------
@pytest.mark.parametrize("make", [make_kan, make_mlp], ids=["kan", "mlp"])
def test_round_trip_is_exact(tmp_path, make):
    model = trained(make())
    meta = {"task": "drift", "samples": 40, "lr": 0.125, "tags": ["a", "b"], "nested": {"x": None}}
    path = persist.save(model, tmp_path / "model.qkan", meta)
    assert path == tmp_path / "model.qkan" and path.is_file()

    loaded = persist.load(path)
    assert type(loaded) is type(model)
    assert loaded.config() == model.config()
    assert persist.model_config(loaded) == persist.model_config(model)
    assert loaded.types == model.types
    assert loaded.parameter_types() == model.parameter_types()
    assert len(loaded.parameters()) == len(model.parameters())
    for a, b in zip(loaded.parameters(), model.parameters()):
        assert a.dtype == np.int64
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    # The parameters really came from the file, not from a matching random seed.
    fresh = model_from_config(persist.model_config(model))
    assert any((a != b).any() for a, b in zip(fresh.parameters(), model.parameters()))
    assert persist.load_metadata(path) == meta


def test_custom_types_survive(saved_kan):
    model, path = saved_kan
    loaded = persist.load(path)
    assert str(loaded.types.coef) == COEF
    assert loaded.types.input.width == 12  # from bits=12, not the rebuild's default 16
    header, _ = read_members(path)
    assert header["config"]["types"]["coef"] == COEF
    assert header["config"]["types"]["acc"] is None


@pytest.mark.parametrize("make", [make_kan, make_mlp], ids=["kan", "mlp"])
def test_loaded_model_learns_identically(tmp_path, make):
    original = trained(make())
    loaded = persist.load(persist.save(original, tmp_path / "m.qkan"))
    a, b = OnlineLearner(original, lr=2.0 ** -4), OnlineLearner(loaded, lr=2.0 ** -4)
    xs, ys = samples(50, seed=3)
    outs_a = np.array([a.step(x, y) for x, y in zip(xs, ys)])
    outs_b = np.array([b.step(x, y) for x, y in zip(xs, ys)])
    np.testing.assert_array_equal(outs_a, outs_b)
    assert len(np.unique(outs_a)) > 5  # a real, varying stream, not a constant
    for p, q in zip(original.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(p, q)


def test_file_layout(saved_kan):
    model, path = saved_kan
    assert zipfile.is_zipfile(path)
    header, arrays = read_members(path)
    assert header["format"] == "quantkan-model" and header["version"] == 1
    assert header["metadata"] == {"task": "drift", "n": 40}
    assert [e["name"] for e in header["parameters"]] == ["coef_0", "coef_1"]
    assert [e["shape"] for e in header["parameters"]] == [[3, 2, 11], [1, 3, 11]]
    assert [e["type"] for e in header["parameters"]] == [COEF, COEF]
    assert set(arrays) == {"coef_0", "coef_1"}
    assert all(a.dtype == np.int64 for a in arrays.values())
    assert header["sha256"] == digest(model.parameters())


def test_save_leaves_no_temp_files(tmp_path):
    target = tmp_path / "model.qkan"
    persist.save(make_mlp(), target)
    persist.save(trained(make_mlp()), target)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.qkan"]
    with pytest.raises(ValueError, match="JSON"):
        persist.save(make_mlp(), tmp_path / "bad.qkan", {"x": float("nan")})
    with pytest.raises(ValueError, match="metadata keys must be strings"):
        persist.save(make_mlp(), tmp_path / "bad.qkan", {1: "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.qkan"]
    # The overwrite won: the file holds the trained parameters.
    np.testing.assert_array_equal(persist.load(target).parameters()[0],
                                  trained(make_mlp()).parameters()[0])



def test_crash_while_saving_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "model.qkan"
    persist.save(make_kan(), target, {"version": "old"})
    before = target.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(persist.os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        persist.save(trained(make_kan()), target, {"version": "new"})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.qkan"]
    assert target.read_bytes() == before
    assert persist.load_metadata(target) == {"version": "old"}

def test_save_refuses_out_of_range_parameters(tmp_path):
    model = make_kan()
    model.parameters()[0][0, 0, 0] = 1 << 20
    with pytest.raises(ValueError, match="outside"):
        persist.save(model, tmp_path / "m.qkan")
    assert list(tmp_path.iterdir()) == []


# -- damaged files -------------------------------------------------------------
def flip_byte_in_array(src: Path, dst: Path, name: str) -> Path:
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(f"{name}.npy")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.file_size - 3] ^= 0x01  # in the last value, past the .npy header
    dst.write_bytes(bytes(data))
    return dst


def corrupt(case: str, src: Path, dst: Path) -> Path:
    header, arrays = read_members(src)
    if case == "not_zip":
        dst.write_text("coefficients, please\n")
    elif case == "npy_not_npz":
        with open(dst, "wb") as fh:
            np.save(fh, np.arange(4))
    elif case == "truncated":
        data = src.read_bytes()
        dst.write_bytes(data[: len(data) // 2])
    elif case == "wrong_format":
        write_members(dst, {**header, "format": "keras-model"}, arrays)
    elif case == "future_version":
        write_members(dst, {**header, "version": 2}, arrays)
    elif case == "header_not_json":
        write_members(dst, b"{format: quantkan-model", arrays)
    elif case == "no_header":
        with open(dst, "wb") as fh:
            np.savez(fh, **arrays)
    elif case == "missing_array":
        write_members(dst, header, {"coef_0": arrays["coef_0"]})
    elif case == "extra_array":
        write_members(dst, header, {**arrays, "coef_9": arrays["coef_0"]})
    elif case == "array_shape":
        write_members(dst, header, {**arrays, "coef_1": arrays["coef_1"][:, :2]})
    elif case == "header_shape":
        entries = [dict(e) for e in header["parameters"]]
        entries[1]["shape"] = [1, 3, 12]
        write_members(dst, {**header, "parameters": entries}, arrays)
    elif case == "config_shape":  # the config implies more coefficients than are stored
        write_members(dst, {**header, "config": {**header["config"], "grid": [-1.0, 1.0, 9]}}, arrays)
    elif case == "float_dtype":
        write_members(dst, header, {**arrays, "coef_0": arrays["coef_0"].astype(np.float64)})
    elif case == "out_of_range":
        bad = arrays["coef_0"].copy()
        bad[1, 1, 1] = 1 << 13  # ap_fixed<14,...> holds -8192..8191
        fixed_arrays = {**arrays, "coef_0": bad}
        write_members(dst, {**header, "sha256": digest(fixed_arrays.values())}, fixed_arrays)
    elif case == "flipped_byte":
        flip_byte_in_array(src, dst, "coef_1")
    elif case == "changed_value":  # a consistent archive whose values differ from the digest
        changed = arrays["coef_1"].copy()
        changed[0, 0, 0] += 1 if changed[0, 0, 0] < 0 else -1
        write_members(dst, header, {**arrays, "coef_1": changed})
    elif case == "bad_config":
        write_members(dst, {**header, "config": {**header["config"], "kind": "cnn"}}, arrays)
    elif case == "bad_config_type":
        types = {**header["config"]["types"], "coef": "ap_fixed<14"}
        write_members(dst, {**header, "config": {**header["config"], "types": types}}, arrays)
    else:  # pragma: no cover
        raise AssertionError(case)
    return dst


CASES = {
    "not_zip": "not a zip",
    "npy_not_npz": "not a zip",
    "truncated": "truncated or damaged",
    "wrong_format": "wrong format tag 'keras-model'",
    "future_version": r"unsupported format version 2 .*supported versions: 1",
    "header_not_json": "header is not valid JSON",
    "no_header": "no 'header' entry",
    "missing_array": "array 'coef_1' is missing",
    "extra_array": r"unexpected arrays \['coef_9'\]",
    "array_shape": r"'coef_1' array has shape \[1, 2, 11\], the config implies \[1, 3, 11\]",
    "header_shape": r"'coef_1' has shape \[1, 3, 12\] in the header",
    "config_shape": r"'coef_0' has shape \[3, 2, 11\] in the header, the config implies \[3, 2, 12\]",
    "float_dtype": "'coef_0' has dtype float64",
    "out_of_range": r"'coef_0' value 8192 is outside ap_fixed<14,3,AP_RND,AP_SAT>",
    "flipped_byte": "'coef_1' is damaged: checksum mismatch",
    "changed_value": "parameter checksum mismatch",
    "bad_config": "config rejected: model kind must be 'kan' or 'mlp'",
    "bad_config_type": "config rejected: type 'coef': malformed",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_file_is_rejected(saved_kan, tmp_path, case):
    _, good = saved_kan
    bad = corrupt(case, good, tmp_path / f"{case}.qkan")
    with pytest.raises(ValueError, match=CASES[case]) as info:
        persist.load(bad)
    assert str(bad) in str(info.value)  # the message names the file
    persist.load(good)  # the source file itself is fine


@pytest.mark.parametrize("case", ["wrong_format", "future_version", "header_not_json", "truncated"])
def test_load_metadata_checks_the_header(saved_kan, tmp_path, case):
    _, good = saved_kan
    bad = corrupt(case, good, tmp_path / f"{case}.qkan")
    with pytest.raises(ValueError, match=CASES[case]):
        persist.load_metadata(bad)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.qkan"):
        persist.load(tmp_path / "nothing.qkan")
    with pytest.raises(FileNotFoundError):
        persist.load_metadata(tmp_path / "nothing.qkan")

