"""QKeras MLPs for the tests, with seeded NumPy weights (Keras initializers are not needed)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from qkeras import QActivation, QDense, quantized_bits, quantized_relu


def qdense(units: int, bits: int, integer: int, name: str) -> QDense:
    return QDense(units, name=name, kernel_quantizer=quantized_bits(bits, integer, alpha=1),
                  bias_quantizer=quantized_bits(bits, integer, alpha=1))


def with_weights(model: tf.keras.Model, scale: float, seed: int) -> tf.keras.Model:
    """Uniform weights in +-scale (beyond the quantizer range, so weight clipping is exercised too)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, QDense):
            layer.set_weights([rng.uniform(-scale, scale, w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


def full_chain(seed: int = 0) -> tf.keras.Model:
    """Input and output quantized by QActivation(quantized_bits); two hidden ReLU layers."""
    model = tf.keras.Sequential([
        tf.keras.layers.Input((3,), name="x"),
        QActivation(quantized_bits(12, 1, alpha=1), name="q_in"),
        qdense(16, 8, 1, "fc1"), QActivation(quantized_relu(8, 2), name="relu1"),
        qdense(8, 8, 1, "fc2"), QActivation(quantized_relu(8, 2), name="relu2"),
        qdense(2, 8, 1, "fc3"), QActivation(quantized_bits(14, 3, alpha=1), name="q_out"),
    ])
    return with_weights(model, 2.2, seed)


TUTORIAL_TYPES = {"input": "ap_fixed<16,2,AP_RND_CONV,AP_SAT>", "output": "ap_fixed<18,5,AP_RND_CONV,AP_SAT>"}


def tutorial_style(seed: int = 1) -> tf.keras.Model:
    """The hls4ml tutorial's shape: 6-bit quantized_bits(6,0) weights, quantized_relu(6), float ends."""
    model = tf.keras.Sequential([
        tf.keras.layers.Input((4,), name="x"),
        qdense(12, 6, 0, "fc1"), QActivation(quantized_relu(6), name="relu1"),
        qdense(1, 6, 0, "fc2"),
    ])
    return with_weights(model, 1.2, seed)
