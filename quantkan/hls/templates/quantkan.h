// quantkan layer library: the golden learning step in ap_fixed C++ (Vitis HLS).
// Every product is exact (ap_fixed full-precision types); every rounding happens in an
// assignment to a named type, exactly where quantkan's golden model casts.
#ifndef QUANTKAN_H_
#define QUANTKAN_H_

#include <ap_fixed.h>
#include <ap_int.h>

namespace quantkan {

// Same bits, another binary point: multiplying by a power of two costs no logic.
template <class D, class S>
D reinterpret(const S& s) {
#pragma HLS INLINE
    D d;
    d.range(D::width - 1, 0) = s.range(S::width - 1, 0);
    return d;
}

// Galois LFSR step, x^32 + x^22 + x^2 + x + 1 (see quantkan/lfsr.py).
inline ap_uint<32> lfsr_step(ap_uint<32> s) {
#pragma HLS INLINE
    ap_uint<32> next = s >> 1;
    if (s[0]) next ^= ap_uint<32>(0x80200003u);
    return next;
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
    if (C::stochastic) {
        lfsr = lfsr_step(lfsr);
        if (C::drop > 0) {
            typename C::pre_t p = s;  // bits beyond the 32 random ones are truncated first
            typename C::sto_t wide = p;  // exact: same LSB, signed and wider
            ap_int<C::sto_t::width> raw = wide.range(C::sto_t::width - 1, 0);
            ap_uint<32> mask = (C::drop >= 32) ? ap_uint<32>(0xFFFFFFFFu)
                                               : ap_uint<32>((1ull << (C::drop > 0 ? C::drop : 0)) - 1);
            ap_int<C::sto_t::width> sum = raw + ap_int<34>(lfsr & mask);  // fits: sto_t has room
            typename C::update_trn_t d = reinterpret<typename C::sto_t>(sum);
            return d;
        }
    }
    typename C::update_t d = s;
    return d;
}

// -- KAN layer ---------------------------------------------------------------------
// Cell k and basis-table row of an input, by the integer arithmetic of golden.GridMap.
template <class C>
void kan_locate(typename C::in_t x, int& k, int& row) {
#pragma HLS INLINE
    ap_int<C::in_t::width> xr = x.range(C::in_t::width - 1, 0);
    ap_int<C::in_t::width + 2> d = xr - ap_int<C::in_t::width + 2>(C::lo_raw);
    ap_int<C::in_t::width + 2 + C::inv_h_bits> t = d * ap_uint<C::inv_h_bits>(C::inv_h_raw);
    long long rows = (long long)t;
    if (C::t_shift >= 0)
        rows >>= (C::t_shift >= 0 ? C::t_shift : 0);
    else
        rows <<= (C::t_shift < 0 ? -C::t_shift : 0);
    const long long last = ((long long)C::cells << C::lut_bits) - 1;
    if (rows < 0) rows = 0;
    if (rows > last) rows = last;
    k = (int)(rows >> C::lut_bits);
    row = (int)(rows & ((1 << C::lut_bits) - 1));
}

template <class C>
void kan_forward(const typename C::in_t x[C::n_in], typename C::out_t y[C::n_out],
                 typename C::coef_t coef[C::n_out][C::n_in][C::n_coef],
                 const typename C::basis_t basis[1 << C::lut_bits][C::order + 1],
                 int k[C::n_in], int row[C::n_in],
                 typename C::coef_t cread[C::n_out][C::n_in][C::order + 1]) {
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
            y[j] = narrow;
        } else {
            y[j] = acc;
        }
    }
}

// Backward through the layer (grad, with the coefficients the forward pass read) and
// the sparse update of S+1 coefficients per edge.
template <class C>
void kan_backward(const typename C::error_t err[C::n_out], typename C::error_t grad[C::n_in],
                  bool need_grad, typename C::coef_t coef[C::n_out][C::n_in][C::n_coef],
                  const typename C::basis_t basis[1 << C::lut_bits][C::order + 1],
                  const typename C::deriv_t deriv[1 << C::lut_bits][C::order + 1],
                  const int k[C::n_in], const int row[C::n_in],
                  const typename C::coef_t cread[C::n_out][C::n_in][C::order + 1],
                  ap_uint<32> lfsr[C::n_out][C::n_in][C::order + 1]) {
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
            grad[i] = back;
        }
    }
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            for (int m = 0; m <= C::order; m++) {
#pragma HLS UNROLL
                typename C::g_t g = err[j] * basis[row[i]][m];
                typename C::update_t delta = make_delta<C>(g, lfsr[j][i][m]);
                coef[j][i][k[i] + m] = coef[j][i][k[i] + m] - delta;
            }
        }
    }
}

// -- dense layer (MLP) ----------------------------------------------------------------
template <class C>
void dense_forward(const typename C::in_t x[C::n_in], typename C::out_t y[C::n_out],
                   typename C::weight_t w[C::n_out][C::n_in], typename C::bias_t b[C::n_out],
                   typename C::weight_t wread[C::n_out][C::n_in], bool active[C::n_out]) {
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
            y[j] = narrow;
        } else {
            y[j] = acc;
        }
    }
}

template <class C>
void dense_backward(const typename C::error_t err_in[C::n_out], typename C::error_t grad[C::n_in],
                    bool need_grad, const typename C::in_t x[C::n_in],
                    typename C::weight_t w[C::n_out][C::n_in], typename C::bias_t b[C::n_out],
                    const typename C::weight_t wread[C::n_out][C::n_in], const bool active[C::n_out],
                    ap_uint<32> lfsr_w[C::n_out][C::n_in], ap_uint<32> lfsr_b[C::n_out]) {
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
            grad[i] = back;
        }
    }
    for (int j = 0; j < C::n_out; j++) {
#pragma HLS UNROLL
        for (int i = 0; i < C::n_in; i++) {
#pragma HLS UNROLL
            typename C::gw_t g = err[j] * x[i];
            typename C::wupd::update_t dw = make_delta<typename C::wupd>(g, lfsr_w[j][i]);
            w[j][i] = w[j][i] - dw;
        }
        typename C::bupd::g_t gb = err[j];
        typename C::bupd::update_t db = make_delta<typename C::bupd>(gb, lfsr_b[j]);
        b[j] = b[j] - db;
    }
}

}  // namespace quantkan

#endif
