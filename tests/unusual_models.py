"""Models with the types issue 13 found holes in: unsigned inputs, outputs and coefficients,
and an input wide enough to wrap an int64 grid lookup. Shared by the HLS and RTL tests.

Each entry: (make a fresh model, input range, target range) for uniform random samples that
reach beyond the grid and the output range.
"""

from __future__ import annotations

from quantkan.models import KAN, MLP


def _kan_coefficients_at(value: float, layers: tuple[int, ...] = (1, 1), **kwargs) -> KAN:
    model = KAN(list(layers), **kwargs)
    model.coefficients[0][...] = model.types.coef.quantize(value)
    return model


UNUSUAL = {
    # the example: every output lands at 1.5 in an unsigned output type
    "kan-unsigned-output": (lambda: _kan_coefficients_at(
        1.5, grid=(-1.0, 1.0, 8), bits=12, types={"output": "ap_ufixed<12,1,AP_RND_CONV,AP_SAT>"}),
        (-1.2, 1.2), (-0.5, 2.5)),
    "kan-unsigned-input": (lambda: KAN([2, 3, 1], grid=(0.0, 2.0, 8), bits=12,
                                       types={"input": "ap_ufixed<12,2,AP_RND_CONV,AP_SAT>"}),
                           (-0.3, 2.3), (-2.0, 2.0)),
    # coefficients around 2.5 in [0, 4): their raw top bit is set, and updates move them across 2.0
    "kan-unsigned-coef": (lambda: _kan_coefficients_at(2.5, (1, 2), grid=(-1.0, 1.0, 6), bits=12,
                                                       types={"coef": "ap_ufixed<12,2,AP_RND_CONV,AP_SAT>"}),
                          (-1.2, 1.2), (0.5, 3.9)),
    "mlp-unsigned-output": (lambda: MLP([2, 6, 1], bits=12, types={"output": "ap_ufixed<12,2,AP_RND_CONV,AP_SAT>"}),
                            (-1.0, 1.0), (-0.5, 4.5)),
    "kan-48-bit-input-non-power-of-two-grid": (lambda: KAN([1, 1], grid=(-1.0, 1.0, 6), types={
        "input": "ap_fixed<48,3,AP_RND_CONV,AP_SAT>"}), (-1.5, 1.5), (-2.0, 2.0)),
}
