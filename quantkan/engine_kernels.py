"""The compiled loops of :mod:`quantkan.engine` (numba; imported only when an engine is built).

Nothing here chooses a type, a table or a grid cell: every cast is a row of a descriptor
array (:data:`DESC_FIELDS`) that :mod:`quantkan.engine` fills from the golden learner's own
FixedTypes, and the spline tables and grid lookup are the golden objects' arrays.  What
lives here is ``ap_fixed``'s cast on one int64 (the rule of :func:`quantkan.fixed.cast`,
tested against it for every mode) and the loop order of one golden step.

One loop per model kind (run_kan, run_mlp) on purpose: a kind-generic loop measured 2x
slower (a run-time kind switch) or uncacheable (numba does not cache functions that take
functions as arguments), and both matter for CI and for sweep workers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["DESC_FIELDS", "cast", "cast_flagged", "run_kan", "run_mlp"]

#: Columns of a cast descriptor row: bits dropped (src.frac - dst.frac), rounding and
#: overflow codes (positions in fixed.Rounding / fixed.Overflow), dst width, signed,
#: dst min and max raw.
DESC_FIELDS = ("drop", "rounding", "overflow", "width", "signed", "min", "max")
# Cast slots per layer: ACC, OUT, SLOPE, BACK, then per update bank b: PRE, DELTA, APPLY.
ACC, OUT, SLOPE, BACK = 0, 1, 2, 3
N_SLOTS = 10
#: Diagnostics counters per learner and layer (golden ``LayerCounts``, in its order).
ATT, ZERO, PSAT, OSAT, ESAT = 0, 1, 2, 3, 4
N_DIAG = 5

_ONE = np.uint64(1)
_BYTE, _8, _16, _24 = np.uint64(255), np.uint64(8), np.uint64(16), np.uint64(24)
_BIG = np.int64(1 << 62)


@njit(cache=True, inline="always", error_model="numpy")
def _rounded(r: np.int64, d: np.ndarray) -> np.int64:
    """Round (drop > 0) or shift up ``r`` into dst's LSB; an overflowing shift becomes a sentinel
    beyond the range unless dst wraps."""
    drop = d[0]
    neg = r < 0
    lo, hi = d[5], d[6]
    if drop > 0:
        dd = drop if drop < 63 else 63
        q = r >> dd
        rem = r & ((np.int64(1) << dd) - 1)
        half = np.int64(1) << (dd - 1)
        mode = d[1]  # the common modes first
        if mode == 6:  # RND_CONV
            inc = rem > half or (rem == half and (q & 1) == 1)
        elif mode == 0:  # TRN
            inc = False
        elif mode == 1:  # TRN_ZERO
            inc = neg and rem != 0
        elif mode == 2:  # RND
            inc = rem >= half
        elif mode == 3:  # RND_ZERO
            inc = rem > half or (rem == half and neg)
        elif mode == 4:  # RND_MIN_INF
            inc = rem > half
        else:  # RND_INF
            inc = rem > half or (rem == half and not neg)
        if inc:
            q += 1
    elif drop < 0:
        n = -drop
        sh = n if n < 63 else 63
        q = r << sh if n < 64 else np.int64(0)
        if d[2] != 0:  # not WRAP: an overflowing shift becomes a sentinel beyond the range
            if r > (hi >> sh):
                q = _BIG
            elif r < -((-lo) >> sh):
                q = -_BIG
    else:
        q = r
    return q


@njit(cache=True, inline="always", error_model="numpy")
def _limited(q: np.int64, neg: bool, d: np.ndarray) -> np.int64:
    """The overflow mode on a rounded value (``neg``: the source was negative)."""
    lo, hi = d[5], d[6]
    ovf = d[2]
    if ovf == 1:  # SAT
        return hi if q > hi else (lo if q < lo else q)
    if ovf == 0:  # WRAP
        q = q & ((np.int64(1) << d[3]) - 1)
        if d[4] != 0 and q > hi:
            q -= np.int64(1) << d[3]
        return q
    if ovf == 2:  # SAT_ZERO
        return np.int64(0) if (q > hi or q < lo) else q
    under = q < lo  # SAT_SYM
    if d[4] != 0 and d[3] > 1:
        under = under or (q == lo and neg)
        lo = -hi
    return hi if q > hi else (lo if under else q)


@njit(cache=True, error_model="numpy")
def cast(r: np.int64, d: np.ndarray) -> np.int64:
    """One raw value through a descriptor: round (drop > 0) or shift up, then overflow."""
    return _limited(_rounded(r, d), r < 0, d)


@njit(cache=True, error_model="numpy")
def cast_flagged(r: np.int64, d: np.ndarray) -> tuple[np.int64, bool]:
    """:func:`cast` and whether it overflowed (golden ``fixed.cast_flagged``): the rounded value
    lies outside dst's range (for a shift up, judged on the source)."""
    q = _rounded(r, d)
    if d[0] < 0:
        n = -d[0]
        sh = n if n < 63 else 63
        over = r > (d[6] >> sh) or r < -((-d[5]) >> sh)
    else:
        over = q > d[6] or q < d[5]
    return _limited(q, r < 0, d), over


# The per-lane casts (delta and read-modify-write, S+1 per edge) are the hot ones: inlined there,
# called elsewhere (inlining every cast quadruples the compile time for ~15% speed).
_cast_inline = njit(cache=True, inline="always", error_model="numpy")(cast.py_func)
_cast_flagged_inline = njit(cache=True, inline="always", error_model="numpy")(cast_flagged.py_func)


@njit(cache=True, inline="always", error_model="numpy")
def _delta(v: np.int64, casts: np.ndarray, bank: int, stoch: bool, dbits: np.int64, jump: np.ndarray,
           lfsr: np.ndarray, lane: int) -> np.int64:
    """The update delta of one lane from lr * g (already scaled): golden ``_Updater.delta``; the
    lane leaps ``dbits`` steps by the byte tables ``jump`` = ``lfsr.leap_tables()[dbits]`` and
    hands out its low ``dbits`` bits."""
    pre = 4 + 3 * bank
    if stoch and dbits > 0:
        s = lfsr[lane]
        s = (jump[0, s & _BYTE] ^ jump[1, (s >> _8) & _BYTE] ^ jump[2, (s >> _16) & _BYTE]
             ^ jump[3, (s >> _24) & _BYTE])
        lfsr[lane] = s
        v = _cast_inline(v, casts[pre]) + np.int64(s & ((_ONE << np.uint64(dbits)) - _ONE))
    return _cast_inline(v, casts[pre + 1])


@njit(cache=True, inline="always", error_model="numpy")
def _rmw(param: np.int64, delta: np.int64, casts: np.ndarray, bank: int, shifts: np.ndarray) -> tuple[np.int64, bool]:
    """param <- cast(param - delta): golden ``_Updater.apply``, and whether the cast overflowed."""
    return _cast_flagged_inline((param << shifts[bank, 0]) - (delta << shifts[bank, 1]), casts[6 + 3 * bank])


@njit(cache=True, error_model="numpy")
def _out_cast(acc: np.int64, cl: np.ndarray, has_acc: bool) -> tuple[np.int64, bool]:
    """A layer output: the accumulator cast (if any), then the output cast; overflowed if either did."""
    over = False
    if has_acc:
        acc, over = cast_flagged(acc, cl[ACC])
    y, over_out = cast_flagged(acc, cl[OUT])
    return y, over or over_out


@njit(cache=True, inline="always", error_model="numpy")
def _output(y: np.ndarray, y_out: np.ndarray, learn: bool, tgt: np.ndarray, err_cast: np.ndarray,
            err_sh: np.ndarray, err: np.ndarray) -> np.int64:
    """Write the prediction; on a learning sample set err = cast(y - target). The error casts that
    overflowed, or -1 when there is nothing to learn."""
    sat = 0
    for j in range(y_out.shape[0]):
        y_out[j] = y[j]
        if learn:
            err[j], over = cast_flagged((y[j] << err_sh[0]) - (tgt[j] << err_sh[1]), err_cast)
            sat += over
    return sat if learn else -1


# -- KAN --------------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def _kan_land(p, l, slot, n_in, n_out, coff, lane_off, in_off, n_coef, S1,
              coef, casts, app_sh, pend_idx, pend_delta, diag):
    ni = n_in[l]
    c, cl, sh, pd, dg = coef[p], casts[p, l], app_sh[p, l], pend_delta[p, slot], diag[p, l]
    sat = 0  # counted locally: a store per lane measured 40% of the engine's speed
    for j in range(n_out[l]):
        for i in range(ni):
            base = coff[l] + (j * ni + i) * n_coef + pend_idx[p, slot, in_off[l] + i]
            lane = lane_off[l] + (j * ni + i) * S1
            for m in range(S1):
                c[base + m], over = _rmw(c[base + m], pd[lane + m], cl, 0, sh)
                sat += over
    dg[PSAT] += sat


@njit(cache=True, error_model="numpy")
def run_kan(n0, x, tgt, learn, stream_of, n_in, n_out, coff, lane_off, in_off, n_coef, S1,
            coef, loc_k, loc_row, loc_min, loc_id, basis, deriv, tab_id,
            casts, has_acc, err_cast, err_sh, lr_mul, stoch, dbits, leap, lfsr, app_sh,
            delays, valid, diag, pend_idx, pend_delta, y_out):
    """Samples n0..n0+N-1 of every learner p (its stream ``stream_of[p]``), as golden steps."""
    P = coef.shape[0]
    L = n_in.shape[0]
    N = x.shape[1]
    w = max(n_in.max(), n_out.max())
    xs = np.zeros((L + 1, w), dtype=np.int64)
    ks = np.zeros((L, w), dtype=np.int64)
    rows = np.zeros((L, w), dtype=np.int64)
    err = np.zeros(w, dtype=np.int64)
    grad = np.zeros(w, dtype=np.int64)
    for p in range(P):
        s = stream_of[p]
        t = tab_id[p]
        for n in range(N):
            now = n0 + n
            for l in range(L):
                slot = now % (delays[p, l] + 1)
                if valid[p, l, slot]:
                    _kan_land(p, l, slot, n_in, n_out, coff, lane_off, in_off, n_coef, S1,
                              coef, casts, app_sh, pend_idx, pend_delta, diag)
                    valid[p, l, slot] = False
            for i in range(n_in[0]):
                xs[0, i] = x[s, n, i]
            for l in range(L):
                g = loc_id[p, l]
                ni = n_in[l]
                for i in range(ni):
                    a = xs[l, i] - loc_min[g]
                    ks[l, i] = loc_k[g, a]
                    rows[l, i] = loc_row[g, a]
                for j in range(n_out[l]):
                    acc = np.int64(0)
                    for i in range(ni):
                        base = coff[l] + (j * ni + i) * n_coef + ks[l, i]
                        r = rows[l, i]
                        for m in range(S1):
                            acc += coef[p, base + m] * basis[t, r, m]
                    xs[l + 1, j], over = _out_cast(acc, casts[p, l], has_acc[p, l])
                    diag[p, l, OSAT] += over
            sat = _output(xs[L], y_out[p, n], learn[n], tgt[s, n], err_cast[p], err_sh[p], err)
            if sat < 0:
                continue
            diag[p, L - 1, ESAT] += sat
            for l in range(L - 1, -1, -1):
                ni, no = n_in[l], n_out[l]
                if l > 0:
                    for i in range(ni):
                        r = rows[l, i]
                        gsum = np.int64(0)
                        for j in range(no):
                            base = coff[l] + (j * ni + i) * n_coef + ks[l, i]
                            sl = np.int64(0)
                            for m in range(S1):
                                sl += coef[p, base + m] * deriv[t, r, m]
                            gsum += err[j] * cast(sl, casts[p, l, SLOPE])
                        grad[i], over = cast_flagged(gsum, casts[p, l, BACK])
                        diag[p, l - 1, ESAT] += over
                slot = now % (delays[p, l] + 1)
                cl, lf, pd, db, mul = casts[p, l], lfsr[p], pend_delta[p, slot], dbits[p, l, 0], lr_mul[p, l]
                jump = leap[db]
                att = zero = 0  # golden LayerCounts.add_deltas: lr * g != 0, and its delta 0
                for j in range(no):
                    for i in range(ni):
                        r = rows[l, i]
                        lane = lane_off[l] + (j * ni + i) * S1
                        for m in range(S1):
                            v = err[j] * basis[t, r, m] * mul
                            dd = _delta(v, cl, 0, stoch[p], db, jump, lf, lane + m)
                            pd[lane + m] = dd
                            att += v != 0
                            zero += (v != 0) & (dd == 0)
                diag[p, l, ATT] += att
                diag[p, l, ZERO] += zero
                for i in range(ni):
                    pend_idx[p, slot, in_off[l] + i] = ks[l, i]
                valid[p, l, slot] = True
                for i in range(ni):
                    err[i] = grad[i]


# -- MLP --------------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def _mlp_land(p, l, slot, n_in, n_out, woff, boff, lane_off, wts, bias, casts, app_sh, pend_delta, diag):
    ni = n_in[l]
    sat = 0
    for j in range(n_out[l]):
        for i in range(ni):
            a = woff[l] + j * ni + i
            wts[p, a], over = _rmw(wts[p, a], pend_delta[p, slot, lane_off[l, 0] + j * ni + i],
                                   casts[p, l], 0, app_sh[p, l])
            sat += over
        bias[p, boff[l] + j], over = _rmw(bias[p, boff[l] + j], pend_delta[p, slot, lane_off[l, 1] + j],
                                          casts[p, l], 1, app_sh[p, l])
        sat += over
    diag[p, l, PSAT] += sat


@njit(cache=True, error_model="numpy")
def run_mlp(n0, x, tgt, learn, stream_of, n_in, n_out, woff, boff, lane_off, relu,
            wts, bias, fwd_sh, casts, has_acc, err_cast, err_sh, lr_mul, stoch, dbits, leap, lfsr, app_sh,
            delays, valid, diag, pend_delta, y_out):
    """Samples n0..n0+N-1 of every learner p, as golden MLP steps (ReLU on hidden layers)."""
    P = wts.shape[0]
    L = n_in.shape[0]
    N = x.shape[1]
    w = max(n_in.max(), n_out.max())
    xs = np.zeros((L + 1, w), dtype=np.int64)
    active = np.zeros((L, w), dtype=np.bool_)
    err = np.zeros(w, dtype=np.int64)
    grad = np.zeros(w, dtype=np.int64)
    for p in range(P):
        s = stream_of[p]
        for n in range(N):
            now = n0 + n
            for l in range(L):
                slot = now % (delays[p, l] + 1)
                if valid[p, l, slot]:
                    _mlp_land(p, l, slot, n_in, n_out, woff, boff, lane_off, wts, bias, casts, app_sh,
                              pend_delta, diag)
                    valid[p, l, slot] = False
            for i in range(n_in[0]):
                xs[0, i] = x[s, n, i]
            for l in range(L):
                ni = n_in[l]
                for j in range(n_out[l]):
                    acc = np.int64(0)
                    for i in range(ni):
                        acc += wts[p, woff[l] + j * ni + i] * xs[l, i]
                    acc = (acc << fwd_sh[p, l, 0]) + (bias[p, boff[l] + j] << fwd_sh[p, l, 1])
                    if relu[l] and acc < 0:
                        acc = np.int64(0)
                    active[l, j] = acc > 0
                    xs[l + 1, j], over = _out_cast(acc, casts[p, l], has_acc[p, l])
                    diag[p, l, OSAT] += over
            sat = _output(xs[L], y_out[p, n], learn[n], tgt[s, n], err_cast[p], err_sh[p], err)
            if sat < 0:
                continue
            diag[p, L - 1, ESAT] += sat
            for l in range(L - 1, -1, -1):
                ni, no = n_in[l], n_out[l]
                if relu[l]:
                    for j in range(no):
                        if not active[l, j]:
                            err[j] = 0
                if l > 0:
                    for i in range(ni):
                        gsum = np.int64(0)
                        for j in range(no):
                            gsum += err[j] * wts[p, woff[l] + j * ni + i]
                        grad[i], over = cast_flagged(gsum, casts[p, l, BACK])
                        diag[p, l - 1, ESAT] += over
                slot = now % (delays[p, l] + 1)
                att = zero = 0  # golden LayerCounts.add_deltas: lr * g != 0, and its delta 0
                for j in range(no):
                    for i in range(ni):
                        lane = lane_off[l, 0] + j * ni + i
                        v = err[j] * xs[l, i] * lr_mul[p, l]
                        dd = _delta(v, casts[p, l], 0, stoch[p], dbits[p, l, 0], leap[dbits[p, l, 0]], lfsr[p], lane)
                        pend_delta[p, slot, lane] = dd
                        att += v != 0
                        zero += (v != 0) & (dd == 0)
                for j in range(no):
                    lane = lane_off[l, 1] + j
                    v = err[j] * lr_mul[p, l]
                    dd = _delta(v, casts[p, l], 1, stoch[p], dbits[p, l, 1], leap[dbits[p, l, 1]], lfsr[p], lane)
                    pend_delta[p, slot, lane] = dd
                    att += v != 0
                    zero += (v != 0) & (dd == 0)
                diag[p, l, ATT] += att
                diag[p, l, ZERO] += zero
                valid[p, l, slot] = True
                for i in range(ni):
                    err[i] = grad[i]
