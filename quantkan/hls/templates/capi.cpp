// C ABI around the top function, for C simulation from Python (quantkan.hls.compile).
// Values cross as raw integers, exactly as the golden model's step_raw takes them.
#include "quantkan_top.h"

template <class T>
static T from_raw(long long raw) {
    T v;
    v.range(T::width - 1, 0) = ap_int<64>(raw);
    return v;
}

template <class T>
static long long to_raw(const T& v) {
    ap_int<T::width> r = v.range(T::width - 1, 0);
    return r.to_int64();
}

extern "C" {

int qk_n_in() { return N_IN; }
int qk_n_out() { return N_OUT; }

// n samples: x[n][N_IN], target[n][N_OUT], learn[n] -> y[n][N_OUT], all raw.
void qk_run(int n, const long long* x, const long long* target, const unsigned char* learn, long long* y) {
    for (int s = 0; s < n; s++) {
        qk_input_t xs[N_IN];
        qk_output_t ts[N_OUT], ys[N_OUT];
        for (int i = 0; i < N_IN; i++) xs[i] = from_raw<qk_input_t>(x[s * N_IN + i]);
        for (int j = 0; j < N_OUT; j++) ts[j] = from_raw<qk_output_t>(target[s * N_OUT + j]);
        ap_int<64> unused;
        quantkan_top(xs, ts, learn[s] != 0, ys, MODE_STEP, 0, 0, &unused);
        for (int j = 0; j < N_OUT; j++) y[s * N_OUT + j] = to_raw(ys[j]);
    }
}

long long qk_param(int addr, int write, long long value) {
    qk_input_t xs[N_IN];
    qk_output_t ts[N_OUT], ys[N_OUT];
    ap_int<64> out = 0;
    quantkan_top(xs, ts, false, ys, write ? MODE_WRITE : MODE_READ, addr, value, &out);
    return out.to_int64();
}

}
