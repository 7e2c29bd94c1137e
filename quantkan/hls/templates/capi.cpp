// C ABI around the top function, for C simulation from Python (quantkan.hls.compile).
// Values cross as raw integers, exactly as the golden model's step_raw takes them, each
// read with its own type's signedness (quantkan::raw_bits).
#include "quantkan_top.h"
#include "quantkan.h"

extern "C" {

int qk_n_in() { return N_IN; }
int qk_n_out() { return N_OUT; }
long long qk_n_params() { return N_PARAMS; }
long long qk_n_counters() { return N_COUNTERS; }

// n samples: x[n][N_IN], target[n][N_OUT], learn[n] -> y[n][N_OUT], all raw.
void qk_run(int n, const long long* x, const long long* target, const unsigned char* learn, long long* y) {
    for (int s = 0; s < n; s++) {
        qk_input_t xs[N_IN];
        qk_output_t ts[N_OUT], ys[N_OUT];
        for (int i = 0; i < N_IN; i++) xs[i] = quantkan::from_raw<qk_input_t>(x[s * N_IN + i]);
        for (int j = 0; j < N_OUT; j++) ts[j] = quantkan::from_raw<qk_output_t>(target[s * N_OUT + j]);
        ap_int<64> unused;
        quantkan_top(xs, ts, learn[s] != 0, ys, MODE_STEP, 0, 0, &unused);
        for (int j = 0; j < N_OUT; j++) y[s * N_OUT + j] = quantkan::raw_bits(ys[j]).to_int64();
    }
}

// Land every update still in flight (update delay D > 0), as a drained pipeline.
void qk_flush() {
    qk_input_t xs[N_IN];
    qk_output_t ts[N_OUT], ys[N_OUT];
    ap_int<64> unused;
    quantkan_top(xs, ts, false, ys, MODE_FLUSH, 0, 0, &unused);
}

// Read (write = 0) or write parameter ``addr`` through the parameter port; the diagnostics
// counters follow the parameters (N_PARAMS + index; a write there clears them all). Returns 0,
// or -1 for an address outside 0..N_PARAMS+N_COUNTERS-1: the port is only as wide as the model
// needs, so a larger address would alias another.
int qk_param(long long addr, int write, long long value, long long* out) {
    if (addr < 0 || addr >= N_PARAMS + N_COUNTERS) return -1;
    qk_input_t xs[N_IN];
    qk_output_t ts[N_OUT], ys[N_OUT];
    ap_int<64> got = 0;
    quantkan_top(xs, ts, false, ys, write ? MODE_WRITE : MODE_READ, qk_param_addr_t(addr), value, &got);
    *out = got.to_int64();
    return 0;
}

}
