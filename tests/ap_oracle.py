"""The real ``ap_fixed`` as an oracle: a generated C++ program, compiled once and cached.

Each query is one line ``id a b``; the program answers with the raw bits of the
result.  ``id`` selects a template instantiation from the catalogue below, so
the Python side can ask for any (type, operation) pair it lists.
"""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass

import numpy as np

from quantkan.cpp import build_executable
from quantkan.fixed import FixedType, Overflow, Rounding

# Target shapes (W, I): widths 1..32 with integer bits below 0, inside and above W.
SHAPES = [(1, 1), (1, -2), (1, 3), (2, 0), (3, -1), (4, 6), (5, 2), (7, 7), (8, 0), (8, 3),
          (8, 10), (11, -3), (12, 4), (16, 8), (16, -2), (17, 1), (20, 24), (24, 12), (31, 5),
          (32, 16), (32, -4), (32, 36)]
SOURCE_HEADROOM = 8  # integer bits the wide source has above the target: overflow by up to 2**8x


def wide_source(t: FixedType) -> FixedType:
    """A 62-bit signed source that keeps 8 bits below and above every target's range."""
    return FixedType(62, t.integer + SOURCE_HEADROOM, True)


def narrow_source(t: FixedType) -> FixedType:
    """A 24-bit unsigned source: rounds for W < 20, shifts left (no rounding) for W > 20."""
    return FixedType(24, t.integer + 4, False)


KINDS = ("wide", "narrow", "double")

# Operand pairs for the full-precision operators and shifts.
ARITH_PAIRS = [
    (FixedType(16, 6), FixedType(12, 2)),
    (FixedType(10, 3, False), FixedType(9, -2)),
    (FixedType(20, 22), FixedType(7, 7, False)),
    (FixedType(30, 30), FixedType(31, 0, False)),
    (FixedType(5, 1, False), FixedType(3, 3, False)),
    (FixedType(1, 1), FixedType(32, 16)),
]
ARITH_OPS = ("mul", "add", "sub", "shl", "shr", "mul_t", "add_t", "sub_t")


def decode_type(code: int) -> FixedType:
    """Inverse of the C++ ``type_code``: the result type of an operator."""
    return FixedType(code >> 16, ((code >> 1) & 0x7FFF) - 1000, bool(code & 1))


def targets() -> list[FixedType]:
    return [FixedType(w, i, s, q, o)
            for q, o, s, (w, i) in itertools.product(Rounding, Overflow, (True, False), SHAPES)]


def _cpp_type(t: FixedType) -> str:
    return str(t)


@dataclass(frozen=True)
class Query:
    ident: int
    a: np.ndarray
    b: np.ndarray | None = None


class Oracle:
    """Builds the program on first use; ``cast_id`` / ``arith_id`` name its queries."""

    def __init__(self) -> None:
        self.targets = targets()
        self._index = {t: n for n, t in enumerate(self.targets)}
        self.exe = build_executable(self._sources(), "ap_oracle", flags=("-O0",))

    def cast_id(self, t: FixedType, kind: str) -> int:
        return self._index[t] * len(KINDS) + KINDS.index(kind)

    def arith_id(self, pair: int, op: str) -> int:
        return len(self.targets) * len(KINDS) + pair * len(ARITH_OPS) + ARITH_OPS.index(op)

    def run(self, queries: list[Query]) -> list[np.ndarray]:
        """Answers as raw uint64 bit patterns, one array per query."""
        lines = []
        for q in queries:
            b = q.b if q.b is not None else np.zeros_like(q.a)
            lines.extend(f"{q.ident} {int(x)} {int(y)}" for x, y in zip(q.a, b))
        done = subprocess.run([str(self.exe)], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, check=True)
        values = np.array([int(v) for v in done.stdout.split()], dtype=np.uint64)
        if len(values) != len(lines):
            raise RuntimeError(f"oracle answered {len(values)} of {len(lines)} queries")
        out, start = [], 0
        for q in queries:
            out.append(values[start:start + len(q.a)])
            start += len(q.a)
        return out

    # -- code generation -------------------------------------------------
    def _sources(self) -> dict[str, str]:
        header = "#include <ap_fixed.h>\n#include <cstring>\ntypedef unsigned long long u64;\n" \
                 "typedef long long i64;\n" \
                 "template <class T> u64 bits(const T& x) {\n" \
                 "  ap_uint<T::width> b = x.range(T::width - 1, 0); return b.to_uint64(); }\n" \
                 "template <class T> T from_raw(i64 raw) {\n" \
                 "  T x; x.range(T::width - 1, 0) = ap_int<64>(raw); return x; }\n" \
                 "template <class T> u64 type_code(const T&) {\n" \
                 "  T top = 0; top.range(T::width - 1, T::width - 1) = 1;\n" \
                 "  return ((u64)T::width << 16) | ((u64)(T::iwidth + 1000) << 1) | (top < 0); }\n"
        units: dict[str, str] = {}
        funcs_per_unit = len(SHAPES) * 2 * len(KINDS) * 2
        n_funcs = len(self.targets) * len(KINDS)
        n_units = (n_funcs + funcs_per_unit - 1) // funcs_per_unit
        for u in range(n_units):
            body = [header, f"u64 dispatch{u}(int id, i64 a, i64 b) {{\n  switch (id) {{"]
            for ident in range(u * funcs_per_unit, min(n_funcs, (u + 1) * funcs_per_unit)):
                t = self.targets[ident // len(KINDS)]
                kind = KINDS[ident % len(KINDS)]
                dst = _cpp_type(t)
                if kind == "double":
                    expr = f"{dst}(d)"
                    body.append(f"  case {ident}: {{ double d; std::memcpy(&d, &a, 8); "
                                f"return bits({expr}); }}")
                else:
                    src = wide_source(t) if kind == "wide" else narrow_source(t)
                    body.append(f"  case {ident}: return bits({dst}(from_raw<{_cpp_type(src)}>(a)));")
            body.append("  }\n  return 0;\n}\n")
            units[f"unit{u}.cpp"] = "\n".join(body)
        arith = [header, "u64 dispatch_arith(int id, i64 a, i64 b) {\n  switch (id) {"]
        for p, (ta, tb) in enumerate(ARITH_PAIRS):
            ca, cb = _cpp_type(ta), _cpp_type(tb)
            load = f"{ca} x = from_raw<{ca}>(a); {cb} y = from_raw<{cb}>(b);"
            for op in ARITH_OPS:
                expr = {"mul": "x * y", "add": "x + y", "sub": "x - y",
                        "shl": "x << (int)b", "shr": "x >> (int)b"}[op.removesuffix("_t")]
                answer = "type_code(r)" if op.endswith("_t") else "bits(r)"
                body_ = f"{{ {load} auto r = {expr}; return {answer}; }}"
                arith.append(f"  case {self.arith_id(p, op)}: {body_}")
        arith.append("  }\n  return 0;\n}\n")
        units["arith.cpp"] = "\n".join(arith)
        decls = "".join(f"u64 dispatch{u}(int, i64, i64);\n" for u in range(n_units))
        main = ["#include <cstdio>", "typedef unsigned long long u64;", "typedef long long i64;",
                decls, "u64 dispatch_arith(int, i64, i64);",
                "int main() {", "  int id; i64 a, b;",
                "  while (std::scanf(\"%d %lld %lld\", &id, &a, &b) == 3) {",
                "    u64 r;",
                f"    if (id >= {n_funcs}) r = dispatch_arith(id, a, b);",
                "    else switch (id / %d) {" % funcs_per_unit]
        main += [f"      case {u}: r = dispatch{u}(id, a, b); break;" for u in range(n_units)]
        main += ["      default: r = 0;", "    }", "    std::printf(\"%llu\\n\", r);", "  }",
                 "  return 0;", "}"]
        units["main.cpp"] = "\n".join(main)
        return units


def signed_bits(bits: np.ndarray, t: FixedType) -> np.ndarray:
    """Raw uint64 bit patterns of width ``t.width`` -> the raw integers quantkan uses."""
    v = bits.astype(np.uint64) & np.uint64((1 << t.width) - 1)
    out = v.astype(np.int64)
    if t.signed:
        out = np.where(out >= (1 << (t.width - 1)), out - (1 << t.width), out)
    return out
