// quantkan layer library: the golden learning step in ap_fixed C++ (Vitis HLS).
// Every product is exact (ap_fixed full-precision types); every rounding happens in an
// assignment to a named type, exactly where quantkan's golden model casts.
#ifndef QUANTKAN_H_
#define QUANTKAN_H_

#include <ap_fixed.h>
#include <ap_int.h>

namespace quantkan {

// The raw bits of a fixed-point type as an integer of the same signedness: ap_int<W> for
// ap_fixed, ap_uint<W> for ap_ufixed. Every boundary (C API, testbench files, parameter
// port) reads raw values through this, so an unsigned type is never read as negative.
template <class T>
struct raw_of;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct raw_of<ap_fixed<W, I, Q, O, N> > {
    typedef ap_int<W> type;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct raw_of<ap_ufixed<W, I, Q, O, N> > {
    typedef ap_uint<W> type;
};

template <class T>
typename raw_of<T>::type raw_bits(const T& v) {
#pragma HLS INLINE
    typename raw_of<T>::type r;
    r.range(T::width - 1, 0) = v.range(T::width - 1, 0);
    return r;
}

// A value from its raw bits (the low T::width bits of ``raw``).
template <class T, class R>
T from_raw(const R& raw) {
#pragma HLS INLINE
    T v;
    v.range(T::width - 1, 0) = ap_int<64>(raw).range(T::width - 1, 0);
    return v;
}

// Same bits, another binary point: multiplying by a power of two costs no logic.
template <class D, class S>
D reinterpret(const S& s) {
#pragma HLS INLINE
    D d;
    d.range(D::width - 1, 0) = s.range(S::width - 1, 0);
    return d;
}

// -- diagnostics counters (quantkan/diagnostics.py) ---------------------------------------
// Per layer: attempted, zero, param_sat, out_sat, err_sat (DIAG_* below); 32 bits, saturating.
enum { DIAG_ATTEMPTED = 0, DIAG_ZERO = 1, DIAG_PARAM_SAT = 2, DIAG_OUT_SAT = 3, DIAG_ERR_SAT = 4, N_DIAG = 5 };

inline void count(ap_uint<32>& c, bool event) {
#pragma HLS INLINE
    if (event && c != ap_uint<32>(0xFFFFFFFFu)) c++;
}

template <class T>
struct is_signed_fixed;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct is_signed_fixed<ap_fixed<W, I, Q, O, N> > {
    static const bool value = true;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
struct is_signed_fixed<ap_ufixed<W, I, Q, O, N> > {
    static const bool value = false;
};

// Whether assigning ``s`` to a D overflows (golden fixed.cast_flagged): ``s`` rounded to D's LSB
// by D's mode, in a type with room for any integer part, lies outside D's range.
template <class D, class S>
bool overflows(const S& s) {
#pragma HLS INLINE
    static const int I = (S::iwidth > D::iwidth ? S::iwidth : D::iwidth) + 2;
    typedef ap_fixed<I + D::width - D::iwidth, I, D::qmode, AP_WRAP> roomy_t;
    roomy_t r = s;
    ap_uint<D::width> top_bits = 0, bottom_bits = 0;
    top_bits = ~top_bits;
    if (is_signed_fixed<D>::value) {
        top_bits[D::width - 1] = 0;
        bottom_bits[D::width - 1] = 1;
    }
    D top, bottom;
    top.range(D::width - 1, 0) = top_bits;
    bottom.range(D::width - 1, 0) = bottom_bits;
    return r > roomy_t(top) || r < roomy_t(bottom);
}

// The leap of a lane that draws K bits per sample: K steps of the Galois LFSR
// x^32 + x^22 + x^2 + x + 1 (s = (s >> 1) ^ (s & 1 ? 0x80200003 : 0), see quantkan/lfsr.py),
// unrolled into one XOR network; on a native 32-bit word, which C simulation runs much faster
// than ap_uint.
template <int K>
ap_uint<32> lfsr_leap(ap_uint<32> state) {
#pragma HLS INLINE
    unsigned int s = state.to_uint();
    for (int i = 0; i < K; i++) {
#pragma HLS UNROLL
        s = (s >> 1) ^ ((0u - (s & 1u)) & 0x80200003u);
    }
    return ap_uint<32>(s);
}

// delta = cast(lr * g, update): lr a shift (scaled_t reinterprets g) or a constant.
template <class C>
typename C::update_t make_delta(typename C::g_t g, ap_uint<32>& lfsr) {
#pragma HLS INLINE
    typename C::scaled_t s;
    if (C::lr_is_shift) {
        s = reinterpret<typename C::scaled_t>(g);
    } else {
        s = g * typename C::lr_t(C::lr_value);
    }
    if (C::stochastic && C::drop > 0) {
        lfsr = lfsr_leap<C::drop>(lfsr);  // as many steps as random bits drawn
        typename C::pre_t p = s;  // bits beyond the 32 random ones are truncated first
        typename C::sto_t wide = p;  // exact: same LSB, signed and wider
        ap_int<C::sto_t::width> raw = wide.range(C::sto_t::width - 1, 0);
        ap_uint<32> mask = (C::drop >= 32) ? ap_uint<32>(0xFFFFFFFFu)
                                           : ap_uint<32>((1ull << (C::drop > 0 ? C::drop : 0)) - 1);
        ap_int<C::sto_t::width> sum = raw + ap_int<34>(lfsr & mask);  // fits: sto_t has room
        typename C::update_trn_t d = reinterpret<typename C::sto_t>(sum);
        return d;
    }
    typename C::update_t d = s;
    return d;
}

// -- KAN layer ---------------------------------------------------------------------
// Cell k and basis-table row of an input, by the integer arithmetic of golden.GridMap:
// exact at every input width (t is as wide as it needs to be), the input's raw bits read
// with its own signedness.
template <class C>
void kan_locate(typename C::in_t x, int& k, int& row) {
#pragma HLS INLINE
    static const int up = C::t_shift < 0 ? -C::t_shift : 0;
    static const int down = C::t_shift > 0 ? C::t_shift : 0;
    static const int need = C::in_t::width + 2 + C::inv_h_bits + up;
    typedef ap_int<(need > 64 ? need : 64)> wide_t;  // also holds the constant ``last``
    ap_int<C::in_t::width + 2> d = raw_bits(x);
    d -= ap_int<C::in_t::width + 2>(C::lo_raw);
    wide_t rows = d * ap_uint<C::inv_h_bits>(C::inv_h_raw);
    rows <<= up;
    rows >>= down;
    const wide_t last = ((long long)C::cells << C::lut_bits) - 1;
    if (rows < 0) rows = 0;
    if (rows > last) rows = last;
    long long r = rows.to_int64();
    k = (int)(r >> C::lut_bits);
    row = (int)(r & ((1 << C::lut_bits) - 1));
}

template <class C>
void kan_forward(const typename C::in_t x[C::n_in], typename C::out_t y[C::n_out],
                 typename C::coef_t coef[C::n_out][C::n_in][C::n_coef],
                 const typename C::basis_t basis[1 << C::lut_bits][C::order + 1],
                 int k[C::n_in], int row[C::n_in],
                 typename C::coef_t cread[C::n_out][C::n_in][C::order + 1], ap_uint<32> diag[N_DIAG]) {
#pragma HLS INLINE
locate:
    for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
        kan_locate<C>(x[i], k[i], row[i]);
    }
outputs:
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        typename C::acc_t acc = 0;
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            for (int m = 0; m <= C::order; m++) {
#pragma HLS UNROLL
                typename C::coef_t c = coef[j][i][k[i] + m];
                cread[j][i][m] = c;
                acc += c * basis[row[i]][m];
            }
        }
        if (C::narrow_acc) {
            typename C::acc_user_t narrow = acc;
            count(diag[DIAG_OUT_SAT], overflows<typename C::acc_user_t>(acc) ||
                                          overflows<typename C::out_t>(narrow));
            y[j] = narrow;
        } else {
            count(diag[DIAG_OUT_SAT], overflows<typename C::out_t>(acc));
            y[j] = acc;
        }
    }
}

// One sample's update of a KAN layer: the cells it touched and the S+1 deltas per edge.
// ``valid`` is false for a sample that did not learn (it still moves the delay line).
template <class C>
struct kan_update {
    bool valid;
    int k[C::n_in];
    typename C::update_t delta[C::n_out][C::n_in][C::order + 1];
};

// One parameter's write, p <- cast(p - delta), counted when it overflows (golden _Updater.apply).
template <class P, class U>
void apply_delta(P& p, const U& delta, ap_uint<32>& param_sat) {
#pragma HLS INLINE
    count(param_sat, overflows<P>(p - delta));
    p = p - delta;
}

// Read-modify-write of the current coefficients: no update is lost, however late it lands.
template <class C>
void kan_apply(typename C::coef_t coef[C::n_out][C::n_in][C::n_coef], const kan_update<C>& u,
               ap_uint<32> diag[N_DIAG]) {
#pragma HLS INLINE
    if (!u.valid) return;
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            for (int m = 0; m <= C::order; m++) {
#pragma HLS UNROLL
                apply_delta(coef[j][i][u.k[i] + m], u.delta[j][i][m], diag[DIAG_PARAM_SAT]);
            }
        }
    }
}

// Backward through the layer (grad, with the coefficients the forward pass read) and the
// deltas of the sparse update of S+1 coefficients per edge (applied by kan_apply).
template <class C>
void kan_backward(const typename C::error_t err[C::n_out], typename C::error_t grad[C::n_in],
                  bool need_grad, kan_update<C>& upd,
                  const typename C::basis_t basis[1 << C::lut_bits][C::order + 1],
                  const typename C::deriv_t deriv[1 << C::lut_bits][C::order + 1],
                  const int k[C::n_in], const int row[C::n_in],
                  const typename C::coef_t cread[C::n_out][C::n_in][C::order + 1],
                  ap_uint<32> lfsr[C::n_out][C::n_in][C::order + 1], ap_uint<32> diag[N_DIAG],
                  ap_uint<32> diag_below[N_DIAG]) {
#pragma HLS INLINE
    if (need_grad) {
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            typename C::back_acc_t back = 0;
            for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
                typename C::slope_acc_t slope = 0;
                for (int m = 0; m <= C::order; m++) {
#pragma HLS UNROLL
                    slope += cread[j][i][m] * deriv[row[i]][m];
                }
                typename C::grad_t s = slope;
                back += err[j] * s;
            }
            count(diag_below[DIAG_ERR_SAT], overflows<typename C::error_t>(back));
            grad[i] = back;
        }
    }
    upd.valid = true;
    for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
        upd.k[i] = k[i];
    }
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            for (int m = 0; m <= C::order; m++) {
#pragma HLS UNROLL
                typename C::g_t g = err[j] * basis[row[i]][m];
                upd.delta[j][i][m] = make_delta<C>(g, lfsr[j][i][m]);
                count(diag[DIAG_ATTEMPTED], g != 0);
                count(diag[DIAG_ZERO], g != 0 && upd.delta[j][i][m] == 0);
            }
        }
    }
}

// -- dense layer (MLP) ----------------------------------------------------------------
template <class C>
void dense_forward(const typename C::in_t x[C::n_in], typename C::out_t y[C::n_out],
                   typename C::weight_t w[C::n_out][C::n_in], typename C::bias_t b[C::n_out],
                   typename C::weight_t wread[C::n_out][C::n_in], bool active[C::n_out], ap_uint<32> diag[N_DIAG]) {
#pragma HLS INLINE
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        typename C::acc_t acc = b[j];
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            wread[j][i] = w[j][i];
            acc += w[j][i] * x[i];
        }
        if (C::relu && acc < 0) acc = 0;
        active[j] = acc > 0;
        if (C::narrow_acc) {
            typename C::acc_user_t narrow = acc;
            count(diag[DIAG_OUT_SAT], overflows<typename C::acc_user_t>(acc) ||
                                          overflows<typename C::out_t>(narrow));
            y[j] = narrow;
        } else {
            count(diag[DIAG_OUT_SAT], overflows<typename C::out_t>(acc));
            y[j] = acc;
        }
    }
}

// One sample's update of a dense layer: a delta for every weight and bias.
template <class C>
struct dense_update {
    bool valid;
    typename C::wupd::update_t dw[C::n_out][C::n_in];
    typename C::bupd::update_t db[C::n_out];
};

template <class C>
void dense_apply(typename C::weight_t w[C::n_out][C::n_in], typename C::bias_t b[C::n_out],
                 const dense_update<C>& u, ap_uint<32> diag[N_DIAG]) {
#pragma HLS INLINE
    if (!u.valid) return;
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            apply_delta(w[j][i], u.dw[j][i], diag[DIAG_PARAM_SAT]);
        }
        apply_delta(b[j], u.db[j], diag[DIAG_PARAM_SAT]);
    }
}

template <class C>
void dense_backward(const typename C::error_t err_in[C::n_out], typename C::error_t grad[C::n_in],
                    bool need_grad, const typename C::in_t x[C::n_in], dense_update<C>& upd,
                    const typename C::weight_t wread[C::n_out][C::n_in], const bool active[C::n_out],
                    ap_uint<32> lfsr_w[C::n_out][C::n_in], ap_uint<32> lfsr_b[C::n_out],
                    ap_uint<32> diag[N_DIAG], ap_uint<32> diag_below[N_DIAG]) {
#pragma HLS INLINE
    typename C::error_t err[C::n_out];
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        err[j] = (C::relu && !active[j]) ? typename C::error_t(0) : err_in[j];
    }
    if (need_grad) {
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            typename C::back_acc_t back = 0;
            for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
                back += err[j] * wread[j][i];
            }
            count(diag_below[DIAG_ERR_SAT], overflows<typename C::error_t>(back));
            grad[i] = back;
        }
    }
    upd.valid = true;
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            typename C::gw_t g = err[j] * x[i];
            upd.dw[j][i] = make_delta<typename C::wupd>(g, lfsr_w[j][i]);
            count(diag[DIAG_ATTEMPTED], g != 0);
            count(diag[DIAG_ZERO], g != 0 && upd.dw[j][i] == 0);
        }
        typename C::bupd::g_t gb = err[j];
        upd.db[j] = make_delta<typename C::bupd>(gb, lfsr_b[j]);
        count(diag[DIAG_ATTEMPTED], gb != 0);
        count(diag[DIAG_ZERO], gb != 0 && upd.db[j] == 0);
    }
}

// -- update delay D ---------------------------------------------------------------------
// The update of sample n lands after the forward pass of sample n + D (golden.Pipeline):
// ``line`` holds the D updates still in flight, newest first. Push this sample's update and
// return the one that lands now (this very update when D = 0: plain SGD).
template <int D, class U>
U delay_line(U line[D > 0 ? D : 1], const U& u) {
#pragma HLS INLINE
    if (D == 0) return u;
    U out = line[D > 0 ? D - 1 : 0];
    for (int d = D - 1; d > 0; d--) {
#pragma HLS UNROLL
        line[d] = line[d - 1];
    }
    line[0] = u;
    return out;
}

}  // namespace quantkan

#endif
