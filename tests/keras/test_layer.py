"""The Keras KANLayer: the same function as quantkan's float twin (to a derived float bound),
trainable in TensorFlow, and quantized by to_quantkan into the quantkan KAN."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from quantkan.keras import KANLayer, from_quantkan, to_quantkan
from quantkan.keras.hls4ml_convert import golden_predict_raw
from quantkan.keras.layer import basis_polynomials
from quantkan.models import KAN
from quantkan.spline import basis
from quantkan.tasks import make_task
from quantkan.twin import FloatLearner

UNIT_ROUNDOFF = {"float32": 2.0 ** -24, "float64": 2.0 ** -53}
ETA = 2.0 ** -53  # the twin's float64


def gamma(n: int, eps: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): the relative error of n chained roundings."""
    return n * eps / (1 - n * eps)


def twin_outputs_and_bound(kan: KAN, x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The float64 twin's outputs and a worst-case bound on |Keras (unit roundoff eps) - twin|.

    Per layer, with inputs h (the twin's values) that Keras has to within dx:

    * grid coordinate t: Keras rounds x - lo, the constants lo and 1/h, and the product
      (4 roundings), the twin 3 in float64; dx moves t by dx/h; at/above hi the twin's u
      is 1 - 2**-53 where Keras has 1.  |dt| <= gamma_4(eps)(|x|+|lo|)/h + dx/h (1+gamma_2(eps))
      + gamma_3(2**-53)(|x|+|lo|)/h + 2**-53.
    * Both evaluate the same spline s(t) = sum_m c[k+m] B_m(t-k), each at its own exactly
      located t (u = t - k is exact), and |B_m'(u)| <= 1 on [0, 1], so
      |s(t) - s(t')| <= (S+1) max|c| |t - t'|.
    * Keras' basis is Horner's rule on the polynomial coefficients M, rounded to eps:
      |dB_m| <= gamma_{2S+1}(eps) sum_p |M[m, p]| for u in [0, 1].
    * Keras' sum over the n_in (G+S) expanded terms (zeros add exactly):
      gamma_{n_in (G+S)}(eps) sum |c| (|B| + |dB|); the twin's Cox-de Boor (non-negative
      terms, B <= 1) and sum: gamma_{3S + n_in (S+1)}(2**-53) sum |c|.

    The bound on a layer's outputs is the next layer's dx.
    """
    g, S = kan.grid, kan.order
    inv_h = g.cells / (g.hi - g.lo)
    db = gamma(2 * S + 1, eps) * np.abs(basis_polynomials(S)).sum(axis=1)  # (S+1,)
    twin = FloatLearner(kan).pipeline.layers
    h, dx = np.asarray(x, np.float64), np.zeros(x.shape)
    for layer in twin:
        coef, (n_out, n_in, _) = layer.coef, layer.coef.shape
        reach = (np.abs(h) + abs(g.lo)) * inv_h
        dt = gamma(4, eps) * reach + dx * inv_h * (1 + gamma(2, eps)) + gamma(3, ETA) * reach + ETA
        lipschitz = (S + 1) * np.abs(coef).max(axis=2)  # (out, in)
        k, u = g.locate(h)  # (n, in)
        active = np.abs(coef[:, np.arange(n_in), :][:, None, :, :])  # (out, 1, in, G+S)
        idx = np.broadcast_to(k[None, :, :, None] + np.arange(S + 1), (n_out, *k.shape, S + 1))
        window = np.take_along_axis(np.broadcast_to(active, (n_out, len(h), n_in, active.shape[-1])), idx, axis=3)
        c_sum = window.sum(axis=(2, 3)).T  # (n, out)
        c_b = (window * (basis(u, S) + db)[None]).sum(axis=(2, 3)).T
        dx = (dt @ lipschitz.T + (window * db).sum(axis=(2, 3)).T
              + gamma(n_in * (g.cells + S), eps) * c_b + gamma(3 * S + n_in * (S + 1), ETA) * c_sum)
        h = np.array([layer.forward(hi)[0] for hi in h])
    return h, dx


def keras_outputs(kan: KAN, x: np.ndarray, dtype: str) -> np.ndarray:
    return from_quantkan(kan, dtype=dtype)(x.astype(dtype)).numpy().astype(np.float64)


@pytest.mark.parametrize("dtype", sorted(UNIT_ROUNDOFF))
@pytest.mark.parametrize("config", [
    dict(layers=[2, 5, 1], grid=(-1.0, 1.0, 8), order=3),
    dict(layers=[3, 4, 2], grid=(-1.0, 1.0, 6), order=2, lut_bits=6, bits=12),  # h = 1/3: not a power of two
    dict(layers=[1, 1], grid=(-1.0, 1.0, 16), order=5, bits=20),
])
def test_keras_forward_equals_float_twin(config, dtype):
    """Keras float forward vs the float64 twin of the same quantkan KAN, within twin_outputs_and_bound."""
    kan = KAN(seed=3, init_scale=0.9, **config)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.3, 1.3, (1500, kan.layers[0])).astype(dtype).astype(np.float64)  # exact in dtype
    x[:4] = [[-1.0], [1.0], [np.nextafter(1.0, 0, dtype=np.float32)], [0.0]]  # grid ends and a knot
    twin, bound = twin_outputs_and_bound(kan, x, UNIT_ROUNDOFF[dtype])
    err = np.abs(keras_outputs(kan, x, dtype) - twin)
    assert (err <= bound).all(), f"worst excess {np.max(err - bound):.3g}"
    assert err.max() > 0 or dtype == "float64"  # float32 really differs from the twin


def test_bound_catches_a_wrong_basis():
    """Guards the test above: a plausible bug (the S+1 pieces in reverse order, i.e. the
    coefficient window read backwards) breaks the bound."""
    kan = KAN([2, 5, 1], seed=3, init_scale=0.9)
    x = np.random.default_rng(1).uniform(-1, 1, (500, 2)).astype(np.float32).astype(np.float64)
    twin, bound = twin_outputs_and_bound(kan, x, UNIT_ROUNDOFF["float32"])
    model = from_quantkan(kan)
    for layer in model.layers:
        layer._poly = layer._poly[::-1]
    err = np.abs(model(x.astype(np.float32)).numpy() - twin)
    assert (err > bound).mean() > 0.5


def test_layout_is_quantkan_coefficients():
    layer = KANLayer(3, grid=(-2.0, 2.0, 4), order=2)
    layer.build((None, 5))
    assert tuple(layer.coefficients.shape) == (3, 5, 6)
    kan = to_quantkan(layer)
    assert kan.layers == [5, 3] and kan.grid.cells == 4 and kan.order == 2
    coef_t = kan.types.coef
    assert np.array_equal(kan.coefficients[0], coef_t.quantize(layer.coefficients.numpy().astype(np.float64)))


def test_round_trip_and_serialization(tmp_path):
    kan = KAN([2, 3, 1], bits=14, seed=2, types={"coef": "ap_fixed<14,2,AP_RND_CONV,AP_SAT>"})
    model = from_quantkan(kan)
    back = to_quantkan(model)
    assert back.config() == kan.config()
    assert all(np.array_equal(a, b) for a, b in zip(back.coefficients, kan.coefficients))
    model.save(tmp_path / "kan.keras")
    loaded = tf.keras.models.load_model(tmp_path / "kan.keras")
    assert all(np.array_equal(a, b) for a, b in zip(to_quantkan(loaded).coefficients, kan.coefficients))


def test_settings_are_validated_and_shared():
    with pytest.raises(ValueError, match="cannot hold the grid"):
        KANLayer(2, grid=(-4.0, 4.0, 8), types={"input": "ap_fixed<16,1,AP_RND_CONV,AP_SAT>"})
    with pytest.raises(ValueError, match="units must be an integer"):
        KANLayer(0)
    model = tf.keras.Sequential([tf.keras.layers.Input((2,)), KANLayer(3, order=3), KANLayer(1, order=2, name="k2")])
    with pytest.raises(ValueError, match="'k2' has settings"):
        to_quantkan(model)
    model = tf.keras.Sequential([tf.keras.layers.Input((2,)), KANLayer(3), tf.keras.layers.ReLU(name="act")])
    with pytest.raises(ValueError, match="layer 'act' \\(ReLU\\) is not supported"):
        to_quantkan(model)


def test_saturating_coefficients_warn():
    layer = KANLayer(1, types={"coef": "ap_fixed<8,1,AP_RND_CONV,AP_SAT>"}, name="big")
    layer.build((None, 1))
    layer.coefficients.assign(np.full(layer.coefficients.shape, 3.0, np.float32))
    with pytest.warns(UserWarning, match="'big': 11 coefficients outside"):
        kan = to_quantkan(layer)
    assert (kan.coefficients[0] == kan.types.coef.max_raw).all()


def test_trains_offline_and_keeps_its_accuracy_in_fixed_point():
    """Keras fits regime 0 of the drift task; the quantized golden model predicts it as well."""
    stream = make_task("drift", n=3000, seed=0)
    first = stream.regime == 0
    x, y = stream.x[first].astype(np.float32), stream.target[first].astype(np.float32)
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Input((1,)), KANLayer(1, grid=(-1.0, 1.0, 8), order=3)])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.02 * before
    kan = to_quantkan(model)
    golden = kan.types.output.to_float(golden_predict_raw(kan, kan.types.input.quantize(x)))
    assert np.mean((golden - y) ** 2) < after + 1e-5  # 16-bit quantization costs (almost) nothing here
