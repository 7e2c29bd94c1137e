// Replays tb_data/stream.txt ("learn x... target..." raw integers per line) through the
// top function and compares every output with tb_data/expected.txt (the golden model).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "quantkan.h"
#include "quantkan_top.h"

int main() {
    std::ifstream stream("tb_data/stream.txt"), expected("tb_data/expected.txt");
    if (!stream || !expected) {
        std::cerr << "tb_quantkan: tb_data/stream.txt or expected.txt missing" << std::endl;
        return 2;
    }
    std::ofstream out("tb_data/csim_output.txt");
    long samples = 0, mismatches = 0;
    std::string line, want_line;
    while (std::getline(stream, line) && std::getline(expected, want_line)) {
        std::istringstream in(line), want(want_line);
        long long learn, raw;
        in >> learn;
        qk_input_t x[N_IN];
        qk_output_t target[N_OUT], y[N_OUT];
        for (int i = 0; i < N_IN; i++) { in >> raw; x[i] = quantkan::from_raw<qk_input_t>(raw); }
        for (int j = 0; j < N_OUT; j++) { in >> raw; target[j] = quantkan::from_raw<qk_output_t>(raw); }
        ap_int<64> unused;
        quantkan_top(x, target, learn != 0, y, MODE_STEP, 0, 0, &unused);
        for (int j = 0; j < N_OUT; j++) {
            long long got = quantkan::raw_bits(y[j]).to_int64(), expect;
            want >> expect;
            out << got << (j + 1 < N_OUT ? " " : "\n");
            if (got != expect) mismatches++;
        }
        samples++;
    }
    std::cout << "tb_quantkan: " << samples << " samples, " << mismatches << " mismatches" << std::endl;
    return mismatches == 0 && samples > 0 ? 0 : 1;
}
