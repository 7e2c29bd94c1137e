"""The ECP5 flow's packing of operand registers into MULT18X18D input registers (quantkan.rtl.ecp5_dsp).

Hand-made netlists in yosys's JSON form: which registers a DSP may take and which it must not."""

from __future__ import annotations

import copy
import io
import json

import pytest

from quantkan.rtl.ecp5_dsp import pack_input_registers, pack_input_registers_file

TOP = "t"
CLK, CLK2 = 2, 3


def ff(d: int, q: int, **over) -> dict:
    params = {"CEMUX": "1 ", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET"}
    params.update(over.pop("params", {}))
    con = {"CLK": [over.pop("clk", CLK)], "DI": [d], "LSR": ["0"], "Q": [q], **over}
    return {"type": "TRELLIS_FF", "parameters": params, "port_directions": {
        "CLK": "input", "DI": "input", "LSR": "input", "CE": "input", "Q": "output"}, "connections": con}


def dsp(a: list, b: list, p0: int) -> dict:
    con = {**{f"A{i}": [a[i] if i < len(a) else "0"] for i in range(18)},
           **{f"B{i}": [b[i] if i < len(b) else "0"] for i in range(18)}, "P0": [p0]}
    dirs = {k: ("output" if k.startswith("P") else "input") for k in con}
    return {"type": "MULT18X18D", "parameters": {}, "port_directions": dirs, "connections": con}


def lut(a: int, z: int) -> dict:
    return {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input", "Z": "output"},
            "connections": {"A": [a], "Z": [z]}}


def netlist(cells: dict) -> dict:
    return {"modules": {TOP: {"ports": {"p": {"direction": "output", "bits": [99]}}, "cells": cells}}}


def two_bit_multiplier(**a1_ff) -> dict:
    """a = {ffa0, ffa1} (bits 20, 21 <- 10, 11), b = {ffb0, sign copy} (bits 30 <- 12); P0 -> 99."""
    return netlist({"ffa0": ff(10, 20), "ffa1": ff(11, 21, **a1_ff), "ffb0": ff(12, 30),
                    "mul": dsp([20, 21], [30, 30, 30], 99)})


def test_a_multiplier_fed_by_plain_registers_takes_them():
    n = two_bit_multiplier()
    assert pack_input_registers(n, TOP) == 1
    cells = n["modules"][TOP]["cells"]
    mul = cells["mul"]
    assert [mul["connections"][f"A{i}"] for i in range(3)] == [[10], [11], ["0"]]
    assert [mul["connections"][f"B{i}"] for i in range(4)] == [[12], [12], [12], ["0"]]
    assert mul["parameters"]["REG_INPUTA_CLK"] == mul["parameters"]["REG_INPUTB_CLK"] == "CLK0"
    assert mul["connections"]["CLK0"] == [CLK] and mul["connections"]["CE0"] == ["1"]
    assert mul["connections"]["RST0"] == ["0"] and mul["port_directions"]["CLK0"] == "input"
    assert set(cells) == {"mul"}, "the absorbed registers feed nothing else and go"
    assert pack_input_registers(n, TOP) == 0, "a packed multiplier is left alone"


def test_a_register_that_also_feeds_other_logic_stays_for_it():
    n = two_bit_multiplier()
    n["modules"][TOP]["cells"]["other"] = lut(21, 40)
    assert pack_input_registers(n, TOP) == 1
    cells = n["modules"][TOP]["cells"]
    assert "ffa1" in cells and cells["mul"]["connections"]["A1"] == [11]
    assert "ffa0" not in cells and "ffb0" not in cells


def test_a_register_read_by_a_module_port_stays():
    n = two_bit_multiplier()
    n["modules"][TOP]["ports"]["q"] = {"direction": "output", "bits": [20]}
    pack_input_registers(n, TOP)
    assert "ffa0" in n["modules"][TOP]["cells"]


@pytest.mark.parametrize("change", [
    {"CE": [50], "params": {"CEMUX": "CE"}},  # an enable: the DSP's CE0 is tied high
    {"LSR": [51]},  # a reset
    {"params": {"REGSET": "SET"}},  # starts at one; the DSP register clears
    {"params": {"CLKMUX": "INV"}},  # the falling edge
    {"clk": CLK2},  # another clock than the other operand bits
], ids=["enable", "reset", "set", "falling-edge", "two-clocks"])
def test_a_multiplier_with_any_other_register_is_left_as_it_was(change):
    n = two_bit_multiplier(**change)
    before = copy.deepcopy(n)
    assert pack_input_registers(n, TOP) == 0
    assert n == before


def test_an_operand_from_logic_leaves_the_multiplier_combinational():
    """nextpnr times a DSP with only one registered operand as an unregistered one."""
    n = netlist({"ffa0": ff(10, 20), "l": lut(12, 30), "mul": dsp([20], [30], 99)})
    before = copy.deepcopy(n)
    assert pack_input_registers(n, TOP) == 0 and n == before


def test_the_file_form_rewrites_the_netlist(tmp_path):
    path = tmp_path / "n.json"
    path.write_text(json.dumps(two_bit_multiplier()))
    log = io.StringIO()
    assert pack_input_registers_file(path, TOP, log) == 1
    assert log.getvalue().strip() == "multipliers given their operand registers (MULT18X18D input registers): 1"
    assert json.loads(path.read_text())["modules"][TOP]["cells"]["mul"]["parameters"]["REG_INPUTA_CLK"] == "CLK0"
