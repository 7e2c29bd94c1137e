"""The board registry: real part numbers, pins reused from amaranth-boards, clear errors on bad files."""

from __future__ import annotations

import importlib

import pytest

from quantkan.boards.registry import board_names, load_board

PARTS = {
    "ulx3s": "LFE5U-85F-6BG381C", "orangecrab": "LFE5U-85F-8MG285C", "icebreaker": "iCE40UP5K-SG48",
    "arty_a7_100t": "xc7a100tcsg324-1", "pynq_z2": "xc7z020clg400-1", "zcu104": "xczu7ev-ffvc1156-2-e",
    "vcu118": "xcvu9p-flga2104-2L-e", "xcvu13p": "xcvu13p-flga2577-2-e",
}
# Pins of the boards amaranth-boards does not have, from the vendors' board XDC files (as in
# LiteX-Boards): clock (p, n), UART rx/tx, I/O standards.
HAND_PINS = {
    "vcu118": (["AY24", "AY23"], "LVDS", "AW25", "BB21", "LVCMOS18", 8),
    "zcu104": (["F23", "E23"], "LVDS", "A20", "C19", "LVCMOS18", 4),
    "pynq_z2": (["H16"], "LVCMOS33", "T14", "U12", "LVCMOS33", 4),
}


def test_every_required_board_is_there_with_its_real_part():
    assert set(PARTS) <= set(board_names())
    for name, part in PARTS.items():
        assert load_board(name).part == part, name


@pytest.mark.parametrize("name,module,cls,clock", [
    ("ulx3s", "ulx3s", "ULX3S_85F_Platform", "clk25"), ("icebreaker", "icebreaker", "ICEBreakerPlatform", "clk12"),
    ("arty_a7_100t", "arty_a7", "ArtyA7_100Platform", "clk100"),
    ("orangecrab", "orangecrab_r0_2", "OrangeCrabR0_2_85FPlatform", "clk")])
def test_amaranth_boards_pins_are_reused(name, module, cls, clock):
    """Clock, UART and LED pins and I/O attributes are amaranth-boards' own."""
    ref = getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()
    got = load_board(name).describe()
    clk = ref.lookup(clock, 0)
    assert got["clock"]["pins"] == list(clk.ios[0].names) and got["clock_mhz"] == clk.clock.frequency / 1e6
    assert got["clock"]["attrs"] == dict(clk.attrs)
    if name != "orangecrab":  # its UART is added on the Feather header (pins 0 and 1)
        uart = ref.lookup("uart", 0)
        want = {s.name: s.ios[0].names[0] for s in uart.ios if s.name in ("rx", "tx")}
        assert {k: got["uart"][k] for k in ("rx", "tx")} == want
    else:
        assert (got["uart"]["rx"], got["uart"]["tx"]) == ("N17", "M18")
    assert got["leds"] and all(isinstance(p, str) for p in got["leds"])


@pytest.mark.parametrize("name", sorted(HAND_PINS))
def test_hand_written_boards_have_their_documented_pins(name):
    clock, clock_std, rx, tx, uart_std, n_leds = HAND_PINS[name]
    got = load_board(name).describe()
    assert got["clock"] == {"pins": clock, "attrs": {"IOSTANDARD": clock_std}}
    assert got["uart"] == {"rx": rx, "tx": tx, "attrs": {"IOSTANDARD": uart_std}}
    assert len(got["leds"]) == n_leds


def test_unknown_board_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown board 'vcu9000'.*ulx3s"):
        load_board("vcu9000")


@pytest.mark.parametrize("text,match", [
    ('title="x"\nvendor="altera"\nfamily="c10"\nflow="q"\n', "vendor/family altera/c10"),
    ('title="x"\nvendor="xilinx"\nfamily="series7"\nflow="yowasp"\n', "use the 'vivado' flow"),
    ('title="x"\nvendor="xilinx"\nfamily="series7"\nflow="vivado"\ndevice="xc7a35t"\npackage="cpg236"\n'
     'speed="1"\n[uart]\nrx="A1"\ntx="A2"\n', r"\[clock\] needs pins"),
    ('title="x"\nvendor="lattice"\nfamily="ecp5"\nflow="yowasp"\nplatform="amaranth_boards.ulx3s:Nope"\n'
     '[clock]\nresource="clk25"\n[uart]\nresource="uart"\n', "cannot load platform"),
    ('title="x"\nvendor="lattice"\nfamily="ecp5"\nflow="yowasp"\npins=1\n', "unknown keys"),
    ('title = [', "not valid TOML"),
])
def test_broken_board_files_are_refused_with_the_reason(tmp_path, monkeypatch, text, match):
    (tmp_path / "bad.toml").write_text(text)
    monkeypatch.setenv("QUANTKAN_BOARDS", str(tmp_path))
    with pytest.raises(ValueError, match=match):
        load_board("bad").platform()
