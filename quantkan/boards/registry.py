"""The board registry: one TOML file per board in ``boards/`` of the source tree.

A board either names an amaranth-boards platform (``platform = "module:Class"``), whose pin
definitions are reused as they are (the file only names the clock, UART and LED resources,
and may override ``speed``), or describes its few pins itself (``device``, ``package``,
``speed``, ``[clock] pins``, ``[uart] rx/tx``, ``[leds] pins``, each with ``attrs``: I/O
standards).  Either way :meth:`Board.platform` gives an Amaranth platform, so every flow
(bitstreams, Vivado projects) reads pins, I/O standards and the part from one place.
A ``kind = "part"`` entry is a bare device: only its out-of-context project is written.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Board", "boards_dir", "board_names", "load_board", "VENDORS"]

VENDORS = {"lattice": ("ecp5", "ice40"), "xilinx": ("series7", "ultrascaleplus")}
FLOWS = {"lattice": "yowasp", "xilinx": "vivado"}
KEYS = {"title", "kind", "vendor", "family", "flow", "platform", "device", "package", "speed",
        "clock", "uart", "leds", "programmer"}


def boards_dir() -> Path:
    """The board definitions: ``QUANTKAN_BOARDS`` if set, else ``boards/`` as installed (see
    :mod:`quantkan.resources`)."""
    import os

    from quantkan.resources import shipped_dir

    path = Path(os.environ["QUANTKAN_BOARDS"]) if "QUANTKAN_BOARDS" in os.environ else shipped_dir("boards")
    if not path.is_dir():
        raise ValueError(f"QUANTKAN_BOARDS={path} is not a folder of board definitions")
    return path


def board_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml"))


def load_board(name: str) -> Board:
    """The board ``name`` (a file stem in ``boards/``), checked; ValueError naming the problem."""
    path = boards_dir() / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown board {name!r}; known boards: {', '.join(board_names())}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    return Board.from_dict(name, data, path)


def _attrs(table: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in table.get("attrs", {}).items()}


@dataclass
class Board:
    name: str
    title: str
    vendor: str
    family: str
    flow: str
    kind: str = "board"
    platform_ref: str | None = None
    device: str | None = None
    package: str | None = None
    speed: str | None = None
    clock: dict[str, Any] = field(default_factory=dict)
    uart: dict[str, Any] = field(default_factory=dict)
    leds: dict[str, Any] = field(default_factory=dict)
    programmer: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def from_dict(cls, name: str, data: dict, path: Path | None = None) -> Board:
        where = path or name
        unknown = set(data) - KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(KEYS)}")
        for key in ("title", "vendor", "family", "flow"):
            if key not in data:
                raise ValueError(f"{where}: missing {key!r}")
        vendor, family = data["vendor"], data["family"]
        if vendor not in VENDORS or family not in VENDORS[vendor]:
            raise ValueError(f"{where}: vendor/family {vendor}/{family} is not one of "
                             f"{', '.join(f'{v}/{f}' for v, fs in VENDORS.items() for f in fs)}")
        if data["flow"] != FLOWS[vendor]:
            raise ValueError(f"{where}: {vendor} boards use the {FLOWS[vendor]!r} flow, not {data['flow']!r}")
        kind = data.get("kind", "board")
        if kind not in ("board", "part"):
            raise ValueError(f"{where}: kind must be 'board' or 'part', got {kind!r}")
        board = cls(name=name, title=data["title"], vendor=vendor, family=family, flow=data["flow"], kind=kind,
                    platform_ref=data.get("platform"), device=data.get("device"), package=data.get("package"),
                    speed=None if data.get("speed") is None else str(data["speed"]),
                    clock=dict(data.get("clock", {})), uart=dict(data.get("uart", {})),
                    leds=dict(data.get("leds", {})), programmer=dict(data.get("programmer", {})), path=path)
        board._check(where)
        return board

    def _check(self, where) -> None:
        if self.platform_ref is None and not (self.device and self.package and self.speed):
            raise ValueError(f"{where}: give either an amaranth-boards 'platform' or 'device', 'package' and 'speed'")
        if self.kind == "part":
            if "frequency_mhz" not in self.clock:
                raise ValueError(f"{where}: a bare part needs [clock] frequency_mhz (the out-of-context target)")
            return
        if self.platform_ref is None:
            if not self.clock.get("pins") or "frequency_mhz" not in self.clock:
                raise ValueError(f"{where}: [clock] needs pins and frequency_mhz")
        elif "resource" not in self.clock:
            raise ValueError(f"{where}: [clock] needs the platform's clock resource name")
        if not (("rx" in self.uart and "tx" in self.uart) or "resource" in self.uart):
            raise ValueError(f"{where}: [uart] needs rx and tx pins or the platform's resource name")

    # -- the Amaranth platform -------------------------------------------
    def platform(self, toolchain: str | None = None):
        """A fresh Amaranth platform instance with this board's clock, UART and LED resources."""
        from amaranth.build import Attrs, Clock, DiffPairs, Pins, Resource
        from amaranth_boards.resources import LEDResources, UARTResource

        overrides: dict[str, Any] = {k: v for k, v in (("device", self.device), ("package", self.package),
                                                       ("speed", self.speed)) if v is not None}
        resources: list = []
        if self.platform_ref is not None:
            module, _, cls_name = self.platform_ref.partition(":")
            try:
                base = getattr(importlib.import_module(module), cls_name)
            except (ImportError, AttributeError) as err:
                raise ValueError(f"board {self.name}: cannot load platform {self.platform_ref}: {err} "
                                 "(pip install 'quantkan[fpga]' brings amaranth-boards)") from None
        else:
            base = self._vendor_base()
            overrides.update(default_clk=None, default_rst=None, resources=[], connectors=[])
            if self.kind == "board":
                pins = self.clock["pins"]
                io = DiffPairs(pins[0], pins[1], dir="i") if len(pins) == 2 else Pins(pins[0], dir="i")
                resources.append(Resource(self.clock["resource"], 0, io, Clock(self.clock["frequency_mhz"] * 1e6),
                                          Attrs(**_attrs(self.clock))))
                overrides["default_clk"] = self.clock["resource"]
                if self.leds.get("pins"):
                    resources += LEDResources(pins=" ".join(self.leds["pins"]), attrs=Attrs(**_attrs(self.leds)))
        if self.kind == "board" and "rx" in self.uart:
            conn = tuple(self.uart["connector"]) if "connector" in self.uart else None
            resources.append(UARTResource(0, rx=self.uart["rx"], tx=self.uart["tx"], conn=conn,
                                          attrs=Attrs(**_attrs(self.uart))))
        cls = type(f"{self.name}_platform", (base,), overrides)
        kwargs = {"toolchain": toolchain} if toolchain else {}
        platform = cls(**kwargs)
        if resources:
            platform.add_resources(resources)
        return platform

    def _vendor_base(self):
        if self.vendor == "xilinx":
            from amaranth.vendor import XilinxPlatform
            return XilinxPlatform
        from amaranth.vendor import LatticePlatform
        return LatticePlatform

    # -- what the flows need ---------------------------------------------
    @property
    def uart_resource(self) -> str:
        return self.uart.get("resource", "uart")

    @property
    def part(self) -> str:
        """The full part number, as the vendor tools spell it."""
        p = self.platform()
        if self.vendor == "xilinx":
            return p._part
        if self.family == "ecp5":
            return f"{p.device}-{p.speed}{p.package}C"
        return f"{p.device}-{p.package}"

    @property
    def clock_hz(self) -> float:
        """The clock the design runs at (the board oscillator, or a part's target clock)."""
        if self.kind == "part" or self.platform_ref is None:
            return float(self.clock["frequency_mhz"]) * 1e6
        p = self.platform()
        return float(p.lookup(self.clock["resource"], 0).clock.frequency)

    def describe(self) -> dict[str, Any]:
        """Resolved pins: clock, UART and LEDs, read from the platform (for listings and checks)."""
        out: dict[str, Any] = {"name": self.name, "title": self.title, "part": self.part, "flow": self.flow,
                               "kind": self.kind, "clock_mhz": self.clock_hz / 1e6}
        if self.kind == "part":
            return out
        p = self.platform()
        clk = p.lookup(self.clock["resource"], 0)
        out["clock"] = {"pins": _pins(p, clk), "attrs": dict(clk.attrs)}
        uart = p.lookup(self.uart_resource, 0)
        out["uart"] = {s.name: _pins(p, s)[0] for s in uart.ios if s.name in ("rx", "tx")}
        out["uart"]["attrs"] = dict(uart.attrs)
        out["leds"] = [pin for r in self.led_resources(p) for pin in _pins(p, r)]
        return out

    def led_resources(self, platform) -> list:
        """The LED resources the top level drives (every ``name#n`` of the named resource)."""
        name = self.leds.get("resource", "led") if self.leds else None
        if name is None:
            return []
        return [res for (n, _), res in platform.resources.items() if n == name]


def _pins(platform, res) -> list[str]:
    """Package pins of a resource or subsignal, connector pins resolved."""
    from amaranth.build import DiffPairs, Pins

    out: list[str] = []
    for io in res.ios:
        if isinstance(io, Pins):
            out += [platform._conn_pins.get(n, n) for n in io.names]
        elif isinstance(io, DiffPairs):
            out += [platform._conn_pins.get(n, n) for n in (*io.p.names, *io.n.names)]
        else:  # a Subsignal
            out += _pins(platform, io)
    return out
