"""The board commands: listing, Vivado builds, `quantkan stream` against a board emulated in Python.

The emulated board answers the framing with the golden learner, so these tests check the
host side (reset, coefficient load, pipelined requests, read-back, verdict) quickly; the
real board logic is checked in tests/test_boards_bridge.py and tests/test_boards_uart_cosim.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quantkan.boards import host
from quantkan.boards.protocol import (
    CMD,
    Hello,
    Spec,
    decode_word,
    encode_word,
)
from quantkan.cli import main
from quantkan.golden import OnlineLearner
from quantkan.rtl.export import param_address

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONFIG = str(EXAMPLES / "drift_kan.toml")


class EmulatedBoard:
    """The framing answered by the golden learner (one request at a time, as the bridge does)."""

    def __init__(self, spec: Spec, model, lr, rounding, seed, corrupt_after: int | None = None) -> None:
        self.spec, self.model, self.settings = spec, model, dict(lr=lr, rounding=rounding, seed=seed)
        self.golden = OnlineLearner(model, delay=0, **self.settings)
        self.inbox, self.outbox = bytearray(), bytearray()
        self.max_unread = 0  # response bytes the host has not read yet
        self.corrupt_after, self.samples = corrupt_after, 0
        self.where = {param_address(spec.meta(), l, *idx): (l, idx)
                      for l, c in enumerate(model.coefficients) for idx in np.ndindex(c.shape)}

    def write(self, data: bytes) -> None:
        self.inbox += data
        while self.inbox:
            cmd = self.inbox[0]
            need = 1 + self.spec.payload_length(cmd)
            if len(self.inbox) < need:
                return
            frame, self.inbox = bytes(self.inbox[:need]), self.inbox[need:]
            self.outbox += self._answer(cmd, frame[1:])
            self.max_unread = max(self.max_unread, len(self.outbox))

    def _answer(self, cmd: int, payload: bytes) -> bytes:
        s = self.spec
        if cmd == CMD["hello"]:
            return bytes([cmd]) + Hello.encode(s, 32, 25_000_000, 115200)
        if cmd == CMD["reset"]:
            self.golden = OnlineLearner(self.model, delay=0, **self.settings)
            return bytes([cmd])
        if cmd in (CMD["read"], CMD["write"]):
            self.golden.flush()
            addr = int.from_bytes(payload[:s.addr_bytes], "little")
            counters = s.counters
            if addr >= counters.base:  # the diagnostics counters: read a word, or clear them all
                if cmd == CMD["write"]:
                    self.golden.clear_counters()
                    return bytes([cmd])
                c, w = divmod(addr - counters.base, counters.words)
                word = self.golden.diagnostics().hardware()[c] >> (w * counters.word_bits)
                return bytes([cmd]) + encode_word(word, s.w_coef)
            l, idx = self.where[addr]
            if cmd == CMD["write"]:
                self.model.coefficients[l][idx] = decode_word(payload[s.addr_bytes:], s.w_coef, True)
                return bytes([cmd])
            return bytes([cmd]) + encode_word(self.model.coefficients[l][idx], s.w_coef)
        if cmd in (CMD["learn"], CMD["predict"]):
            b = (s.w_in + 7) // 8
            x = [decode_word(payload[b * i:b * i + b], s.w_in, True) for i in range(s.n_in)]
            t = [decode_word(payload[b * (s.n_in + j):b * (s.n_in + j + 1)], s.w_out, True) for j in range(s.n_out)]
            y = self.golden.step_raw(x, t if cmd == CMD["learn"] else [0] * s.n_out, cmd == CMD["learn"])
            self.samples += 1
            if self.corrupt_after is not None and self.samples > self.corrupt_after:
                y = y + 1
            return bytes([cmd]) + b"".join(encode_word(v, s.w_out) for v in y)
        return bytes([CMD["unknown"]])

    def read(self, n: int) -> bytes:
        if len(self.outbox) < n:
            raise TimeoutError(f"the emulated board has {len(self.outbox)} of {n} bytes")
        out, self.outbox = bytes(self.outbox[:n]), self.outbox[n:]
        return out

    def resync(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None: ...


def emulate(monkeypatch, **kwargs):
    """Replace the serial port by an emulated board built from the same config."""
    from quantkan.rtl.commands import load_model

    boards = []

    def open_port(port, baud, timeout=2.0):
        model, _, learning = load_model(CONFIG, None)
        spec = Spec.for_model(model, "pipelined", learning["lr"], learning["rounding"], learning["seed"])
        model.coefficients[0][:] = 0  # the board's state differs from the config's: stream must load it
        board = EmulatedBoard(spec, model, learning["lr"], learning["rounding"], learning["seed"], **kwargs)
        boards.append(board)
        return board

    monkeypatch.setattr(host, "SerialLink", open_port)
    return boards


def test_stream_loads_the_model_streams_and_passes(monkeypatch, capsys):
    boards = emulate(monkeypatch)
    assert main(["stream", CONFIG, "--port", "/dev/ttyFAKE", "--n", "300", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "PASS: the board learns bit for bit" in out and "predictions differing from the golden model: 0" in out
    assert "coefficients differing after the stream: 0/11" in out
    assert boards[0].samples == 300 and boards[0].max_unread >= 5 * 3  # several requests in flight


def test_stream_reports_a_board_that_disagrees(monkeypatch, capsys):
    emulate(monkeypatch, corrupt_after=250)
    assert main(["stream", CONFIG, "--port", "/dev/ttyFAKE", "--n", "300", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "predictions differing from the golden model: 50" in out and "FAIL" in out


def test_stream_refuses_a_board_built_from_another_config(monkeypatch, capsys):
    emulate(monkeypatch)
    other = str(EXAMPLES / "qubit_kan.toml")
    assert main(["stream", other, "--port", "/dev/ttyFAKE", "--n", "10", "--quiet"]) == 2
    assert "the board runs a different learner: n_in 1 (expected 2)" in capsys.readouterr().err


def test_stream_names_a_port_that_does_not_open(capsys):
    assert main(["stream", CONFIG, "--port", "/dev/quantkan-no-such-port", "--n", "5"]) == 2
    assert "cannot open serial port '/dev/quantkan-no-such-port'" in capsys.readouterr().err


def test_build_writes_a_vivado_project_and_lists_boards(tmp_path, capsys):
    assert main(["boards"]) == 0
    listing = capsys.readouterr().out
    for name in ("ulx3s", "orangecrab", "icebreaker", "arty_a7_100t", "pynq_z2", "zcu104", "vcu118", "xcvu13p"):
        assert name in listing
    assert main(["build", CONFIG, "--board", "zcu104", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "xczu7ev-ffvc1156-2-e" in out and f"vivado -mode batch -source {tmp_path.resolve() / 'build.tcl'}" in out
    assert (tmp_path / "build.tcl").is_file() and (tmp_path / "learner" / "quantkan_kan.v").is_file()


@pytest.mark.parametrize("args,message", [
    (["build", CONFIG, "--board", "nosuch"], "unknown board 'nosuch'"),
    (["build", CONFIG, "--board", "icebreaker", "--baud", "6000000"], "too fast for a 12 MHz clock"),
    (["boards", "--board", "nosuch"], "unknown board 'nosuch'"),
    (["build", CONFIG, "--board", "zcu104", "--nextpnr-opts", "--seed 2"], "zcu104 is built with Vivado"),
    (["build", CONFIG, "--board", "zcu104", "--timeout", "5"], "--timeout is for the boards nextpnr builds here"),
])
def test_bad_input_is_refused_with_the_reason(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_build_writes_a_vivado_project_for_an_mlp(tmp_path, capsys):
    assert main(["build", str(EXAMPLES / "qubit_mlp.toml"), "--board", "zcu104", "-o", str(tmp_path)]) == 0
    assert "MLP(layers=[2, 8, 1]" in capsys.readouterr().out
    info = json.loads((tmp_path / "quantkan_board.json").read_text())
    assert info["spec"]["kind"] == "mlp" and (tmp_path / "learner" / "quantkan_mlp.v").is_file()
    ooc = (tmp_path / "ooc.tcl").read_text()  # the MLP's module is named for its kind, and the OOC flow reads it
    assert "learner/quantkan_mlp.v" in ooc and "synth_design -top quantkan_mlp " in ooc
    assert "`learner/quantkan_mlp.v` is the bare learner" in (tmp_path / "README.md").read_text()


def test_build_passes_nextpnr_options_to_a_lattice_build(tmp_path, monkeypatch, capsys):
    from quantkan.boards import lattice, top

    seen = {}

    def fake(board, design, out, **kwargs):
        seen.update(kwargs)
        raise lattice.BuildFailed("stopped by the test")

    monkeypatch.setattr(lattice, "build_bitstream", fake)
    # no design is built, so none is left unelaborated (Amaranth warns of those)
    monkeypatch.setattr(top, "board_core", lambda *args, **kwargs: None)
    monkeypatch.setattr(top, "BoardTop", lambda board, core: None)
    args = ["build", CONFIG, "--board", "icebreaker", "-o", str(tmp_path), "--nextpnr-opts", "--seed 2 --placer sa",
            "--timeout", "1.5"]
    assert main(args) != 0 and "stopped by the test" in capsys.readouterr().err
    assert list(seen["nextpnr_opts"]) == ["--seed", "2", "--placer", "sa"]
    assert seen["timeout"] == 90.0  # minutes on the command line, seconds to the build
