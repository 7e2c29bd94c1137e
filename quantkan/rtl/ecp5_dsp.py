"""Move the registers in front of each ECP5 multiplier into the MULT18X18D's own input registers.

yosys maps a multiply to a MULT18X18D with every register left in the fabric (it has register
packing for iCE40 and Xilinx DSPs, not for ECP5).  A multiplier's operand register then sits in
a slice the placer puts wherever wirelength pulls it, often tens of tiles from the DSP, and the
route from it to the DSP lies in series with the multiply.  Inside the DSP the register is
beside the multiplier: the route falls in the cycle before, with no logic after it.

The move keeps the netlist's function cycle for cycle: a plain flip-flop (one clock, no enable,
no reset, cleared at configuration, as the generator's datapath registers are) becomes the DSP's
input register (CLK0, CE0 = 1, RST0 = 0), which also clears at configuration.  A flip-flop that
also feeds other cells stays for them, and the DSP gets its own copy.  A multiplier qualifies
only when both operands come from such flip-flops (or constants): nextpnr times a DSP with one
registered input as a combinational one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

__all__ = ["pack_input_registers", "pack_input_registers_file", "WHAT"]

WHAT = "multipliers given their operand registers (MULT18X18D input registers)"  # for progress lines

CONSTANTS = ("0", "1", "x", "z")
OPERAND_PINS = tuple(f"{bus}{i}" for bus in "AB" for i in range(18))


def _param(cell: dict, name: str, default: str) -> str:
    return str(cell["parameters"].get(name, default)).strip()


def _plain_ff(cell: dict) -> bool:
    """A flip-flop a DSP input register can stand for: rising clock, always enabled, never reset, cleared."""
    if cell["type"] != "TRELLIS_FF":
        return False
    con = cell["connections"]
    enabled = _param(cell, "CEMUX", "CE") == "1" or con.get("CE", ["1"]) == ["1"]
    unreset = con.get("LSR", ["0"]) == ["0"] and _param(cell, "LSRMUX", "LSR") == "LSR"
    return (enabled and unreset and _param(cell, "CLKMUX", "CLK") == "CLK"
            and _param(cell, "REGSET", "RESET") == "RESET" and isinstance(con["CLK"][0], int))


def pack_input_registers(netlist: dict, top: str) -> int:
    """Pack operand registers into the MULT18X18D cells of module ``top`` (in place); how many DSPs took them."""
    cells: dict[str, dict] = netlist["modules"][top]["cells"]
    driver: dict[int, str] = {}
    for name, cell in cells.items():
        for port, bits in cell["connections"].items():
            if cell["port_directions"].get(port) == "output":
                driver.update((b, name) for b in bits if isinstance(b, int))
    packed, absorbed = 0, set()
    for cell in cells.values():
        if cell["type"] != "MULT18X18D" or _param(cell, "REG_INPUTA_CLK", "NONE") != "NONE":
            continue
        con = cell["connections"]
        ffs = {p: driver.get(con[p][0]) for p in OPERAND_PINS if con.get(p, ["0"])[0] not in CONSTANTS}
        if not ffs or not all(ff is not None and _plain_ff(cells[ff]) for ff in ffs.values()):
            continue
        clocks = {cells[ff]["connections"]["CLK"][0] for ff in ffs.values()}
        if len(clocks) != 1:
            continue
        for p, ff in ffs.items():
            con[p] = list(cells[ff]["connections"]["DI"])
        absorbed.update(ffs.values())
        con.update(CLK0=[clocks.pop()], CE0=["1"], RST0=["0"])
        cell["port_directions"].update(CLK0="input", CE0="input", RST0="input")
        cell["parameters"].update(REG_INPUTA_CLK="CLK0", REG_INPUTB_CLK="CLK0", REG_INPUTA_CE="CE0",
                                  REG_INPUTB_CE="CE0", REG_INPUTA_RST="RST0", REG_INPUTB_RST="RST0")
        packed += 1
    _drop_unread(netlist, top, absorbed)
    return packed


def _drop_unread(netlist: dict, top: str, candidates: set[str]) -> None:
    """Remove the flip-flops among ``candidates`` that nothing reads any more."""
    module = netlist["modules"][top]
    read: set[int] = {b for p in module["ports"].values() if p["direction"] != "input" for b in p["bits"]}
    for cell in module["cells"].values():
        for port, bits in cell["connections"].items():
            if cell["port_directions"].get(port) != "output":
                read.update(b for b in bits if isinstance(b, int))
    for name in candidates:
        if not any(b in read for b in module["cells"][name]["connections"]["Q"]):
            del module["cells"][name]


def pack_input_registers_file(path: str | Path, top: str, log: TextIO | None = None) -> int:
    """:func:`pack_input_registers` on a yosys JSON netlist file, rewritten in place; how many
    DSPs took registers, also said on ``log`` as a flow's progress line."""
    path = Path(path)
    netlist = json.loads(path.read_text())
    n = pack_input_registers(netlist, top)
    path.write_text(json.dumps(netlist))
    if log is not None:
        print(f"      {WHAT}: {n}", file=log, flush=True)
    return n
