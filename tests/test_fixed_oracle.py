"""quantkan.fixed against the real ap_fixed headers (compiled with g++): raw bits must match.

For every rounding x overflow mode, signed and unsigned, over the target shapes of
``ap_oracle.SHAPES``: at least 10,000 random cases per mode combination plus edge
cases (exact halves, extremes, one LSB over, large overflow, negative values
around zero), from a wide signed source, a narrow unsigned source and doubles.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ap_oracle import ARITH_PAIRS, KINDS, SHAPES, Oracle, Query, decode_type, narrow_source, \
    signed_bits, wide_source
from quantkan import fixed
from quantkan.fixed import FixedType, Overflow, Rounding

RANDOM_PER_COMBINATION = 10_000
pytestmark = pytest.mark.oracle


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    return Oracle()


def _edge_units(t: FixedType) -> np.ndarray:
    """Edge values in units of the target's LSB (fractions allowed)."""
    lo, hi = t.min_raw, t.max_raw
    big = float(1 << (t.width + 6))
    e = [lo, hi, hi + 1, lo - 1, hi + 0.5, lo - 0.5, hi + 1 / 256, lo - 1 / 256, hi - 0.5,
         lo + 0.5, 0, 1 / 256, -1 / 256, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, -0.25, -0.75, 0.25,
         0.75, 1, -1, big, -big, big + 0.5, -big - 0.5, hi + 0.5 + 1 / 256, lo - 0.5 - 1 / 256]
    e += [k + 0.5 for k in (lo, lo + 1, lo + 2, hi - 2, hi - 1, -hi - 1, -hi - 2)]
    e += [-k - 0.5 for k in range(4)]
    return np.array(e, dtype=np.float64)


def _cases(t: FixedType, kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(query operand, expected quantkan raw) for one target type and source kind."""
    span = float(1 << t.width)
    if kind == "narrow":
        src = narrow_source(t)
        raw = np.concatenate([rng.integers(0, 1 << 24, n),
                              [0, 1, (1 << 24) - 1, 1 << 23, (1 << 23) - 1, 1 << 12, 3 << 11]])
        return raw.astype(np.int64), fixed.cast(raw, src, t)
    units = np.concatenate([
        _edge_units(t),
        rng.uniform(t.min_raw - span / 2, t.max_raw + span / 2, n // 2),  # around the range
        rng.uniform(-span * 64, span * 64, n // 4),  # large overflow
        np.floor(rng.uniform(t.min_raw - 4, t.max_raw + 4, n - n // 2 - n // 4)) + 0.5,  # halves
    ])
    if kind == "wide":
        src = wide_source(t)
        raw = np.round(np.ldexp(units, src.frac - t.frac)).astype(np.int64)
        return raw, fixed.cast(raw, src, t)
    values = np.ldexp(units, -t.frac)
    values = np.concatenate([values, [1e300, -1e300, 1e-300, -1e-300, 5e-324, -5e-324, 2.0**70, -2.0**70]])
    return values.view(np.int64), t.quantize(values)


@pytest.mark.parametrize("rounding,overflow", list(itertools.product(Rounding, Overflow)),
                         ids=lambda m: m.name)
def test_cast_and_quantize_match_ap_fixed(oracle, rounding, overflow, oracle_count):
    rng = np.random.default_rng([list(Rounding).index(rounding), list(Overflow).index(overflow)])
    for signed in (True, False):
        per_case = -(-RANDOM_PER_COMBINATION // (len(SHAPES) * len(KINDS)))
        queries, expected, labels = [], [], []
        for (w, i), kind in itertools.product(SHAPES, KINDS):
            t = FixedType(w, i, signed, rounding, overflow)
            operand, want = _cases(t, kind, per_case, rng)
            queries.append(Query(oracle.cast_id(t, kind), operand))
            expected.append(want)
            labels.append((t, kind))
        answers = oracle.run(queries)
        for (t, kind), q, want, got_bits in zip(labels, queries, expected, answers):
            got = signed_bits(got_bits, t)
            oracle_count(len(got))
            bad = np.flatnonzero(got != want)
            if len(bad):
                j = bad[0]
                operand = q.a[j:j + 1].view(np.float64)[0] if kind == "double" else q.a[j]
                pytest.fail(f"{len(bad)} mismatches for {t} from {kind}; first: operand {operand!r} "
                            f"-> ap_fixed {got[j]}, quantkan {want[j]}")


@pytest.mark.parametrize("pair", range(len(ARITH_PAIRS)))
def test_operators_match_ap_fixed(oracle, pair, oracle_count):
    ta, tb = ARITH_PAIRS[pair]
    rng = np.random.default_rng(pair)
    n = 2000

    def operand(t: FixedType) -> np.ndarray:
        edges = [e for e in (t.min_raw, t.max_raw, 0, 1, -1, t.min_raw + 1, t.max_raw - 1) if t.in_range(e)]
        return np.concatenate([edges, rng.integers(t.min_raw, t.max_raw + 1, n - len(edges))])

    a, b = operand(ta), operand(tb)
    shifts = rng.integers(0, ta.width + 3, n)
    ops = {"mul": fixed.mul, "add": fixed.add, "sub": fixed.sub}
    queries = [Query(oracle.arith_id(pair, op), a, b) for op in ops]
    queries += [Query(oracle.arith_id(pair, op + "_t"), a[:1], b[:1]) for op in ops]
    queries += [Query(oracle.arith_id(pair, "shl"), a, shifts), Query(oracle.arith_id(pair, "shr"), a, shifts)]
    answers = oracle.run(queries)
    for k, (name, op) in enumerate(ops.items()):
        want, rt = op(a, ta, b, tb)
        assert decode_type(int(answers[k + len(ops)][0])) == rt, f"{name} result type"
        got = signed_bits(answers[k], rt)
        oracle_count(len(got))
        assert np.array_equal(got, want), f"{name} of {ta} and {tb}: {np.sum(got != want)} mismatches"
    shl = np.array([fixed.shift_left(x, ta, int(s)) for x, s in zip(a, shifts)])
    shr = np.array([fixed.shift_right(x, ta, int(s)) for x, s in zip(a, shifts)])
    for name, want, got_bits in (("<<", shl, answers[-2]), (">>", shr, answers[-1])):
        got = signed_bits(got_bits, ta)
        oracle_count(len(got))
        assert np.array_equal(got, want), f"{ta} {name}: {np.sum(got != want)} mismatches"


_SAME_ON_NON_NEGATIVE = [{Rounding.TRN, Rounding.TRN_ZERO}, {Rounding.RND, Rounding.RND_INF},
                         {Rounding.RND_ZERO, Rounding.RND_MIN_INF}]


def _same_on_unsigned(q, o, q_true, o_true) -> bool:
    """Modes that differ only on negative values, which a saturating unsigned type sends to 0."""
    if Overflow.WRAP in (o, o_true):
        return False
    same_o = o == o_true or {o, o_true} == {Overflow.SAT, Overflow.SAT_SYM}
    return same_o and (q == q_true or any({q, q_true} <= pair for pair in _SAME_ON_NON_NEGATIVE))


def test_oracle_cases_tell_every_mode_apart(oracle):
    """Breaking any single mode (answering with another mode's rule) is caught by these cases."""
    rng = np.random.default_rng(7)
    shape = (8, 3)
    for signed in (True, False):
        for q_true, o_true in itertools.product(Rounding, Overflow):
            t = FixedType(*shape, signed, q_true, o_true)
            operand, _ = _cases(t, "wide", 400, rng)
            got = signed_bits(oracle.run([Query(oracle.cast_id(t, "wide"), operand)])[0], t)
            for q, o in itertools.product(Rounding, Overflow):
                if (q, o) == (q_true, o_true) or (not signed and _same_on_unsigned(q, o, q_true, o_true)):
                    continue
                wrong = fixed.cast(operand, wide_source(t), FixedType(*shape, signed, q, o))
                assert not np.array_equal(got, wrong), f"{t} indistinguishable from {q.value},{o.value}"
