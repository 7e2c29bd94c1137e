"""QKeras quantizers <-> quantkan FixedTypes: which ap_fixed holds exactly what a quantizer gives.

``quantized_bits(bits, integer)`` (alpha 1, keep_negative) rounds ``x * 2**(bits-1-integer)``
half to even (``tf.round``) and clips to the signed range: that is
``ap_fixed<bits, integer+1, AP_RND_CONV, AP_SAT>``.  ``quantized_relu(bits, integer)``
clips to ``[0, 2**integer)`` with ``bits`` bits in all: that is
``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``.  These are also the types hls4ml 1.3
gives them.  Anything else (scaling alpha, stochastic rounding, tanh, po2, binary, ...)
is refused with a ValueError naming the quantizer and what to use instead; so are negative
``integer`` values, which QKeras 0.9 itself cannot evaluate (``2**integer`` on integers).
"""

from __future__ import annotations

from typing import Any

from quantkan.fixed import FixedType, Overflow, Rounding

__all__ = ["SUPPORTED", "quantizer_type", "quantizer_config", "quantizer_for"]

SUPPORTED = ("quantized_bits", "quantized_relu")
_NEAREST, _SAT = Rounding.RND_CONV, Overflow.SAT


def quantizer_config(quantizer: Any) -> tuple[str, dict[str, Any]]:
    """(class name, config) of a QKeras quantizer object or its serialized dict."""
    if isinstance(quantizer, dict) and "class_name" in quantizer:
        return str(quantizer["class_name"]), dict(quantizer.get("config") or {})
    if hasattr(quantizer, "get_config"):
        return type(quantizer).__name__, dict(quantizer.get_config())
    name = getattr(quantizer, "__name__", None) or repr(quantizer)
    return str(name), {}


def _require(ok: bool, name: str, where: str, problem: str) -> None:
    if not ok:
        raise ValueError(f"{where}: {name} with {problem} is not supported")


def quantizer_type(quantizer: Any, where: str = "quantizer") -> FixedType:
    """The FixedType of the values ``quantizer`` produces; ``where`` names it in errors."""
    name, cfg = quantizer_config(quantizer)
    if name not in SUPPORTED:
        raise ValueError(f"{where}: quantizer {name} is not supported; quantkan imports "
                         f"{' and '.join(SUPPORTED)} (fixed point, round to nearest, saturating)")
    bits, integer = cfg.get("bits"), cfg.get("integer", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (bits, integer)):
        raise ValueError(f"{where}: {name} needs integer bits and integer, got bits={bits!r} integer={integer!r}")
    _require(not cfg.get("use_stochastic_rounding"), name, where, "use_stochastic_rounding=True")
    _require(float(cfg.get("qnoise_factor", 1.0)) == 1.0, name, where,
             f"qnoise_factor={cfg.get('qnoise_factor')} (partial quantization); use 1")
    if name == "quantized_bits":
        alpha = cfg.get("alpha")
        _require(alpha is None or (not isinstance(alpha, str) and float(alpha) == 1.0), name, where,
                 f"alpha={alpha!r} (a scale factor hardware would have to apply); use alpha=1")
        _require(bool(cfg.get("keep_negative", True)), name, where,
                 "keep_negative=False (hls4ml 1.3 gives it a signed type with one fractional bit less)")
        _require(not cfg.get("symmetric"), name, where, "symmetric=1 (hls4ml 1.3 saturates asymmetrically)")
        _require(bits >= 2 and 0 <= integer < bits, name, where,
                 f"bits={bits}, integer={integer}; need bits >= 2 and 0 <= integer < bits")
        return FixedType(bits, integer + 1, True, _NEAREST, _SAT)
    _require(float(cfg.get("negative_slope", 0.0)) == 0.0, name, where,
             f"negative_slope={cfg.get('negative_slope')} (leaky ReLU)")
    _require(not cfg.get("use_sigmoid"), name, where, "use_sigmoid=1")
    _require(cfg.get("relu_upper_bound") is None, name, where, f"relu_upper_bound={cfg.get('relu_upper_bound')}")
    _require(bits >= 1 and 0 <= integer <= bits, name, where,
             f"bits={bits}, integer={integer}; need bits >= 1 and 0 <= integer <= bits")
    return FixedType(bits, integer, False, _NEAREST, _SAT)


def quantizer_for(t: FixedType, relu: bool = False, where: str = "type") -> Any:
    """The QKeras quantizer whose values are exactly those of ``t`` (after a ReLU when ``relu``).

    A signed type after ReLU holds the values of ``ap_ufixed<W-1, I-1>``, which is
    ``quantized_relu(W-1, I-1)``.  Rounding modes are not carried: QKeras always
    rounds to nearest and saturates (the hls4ml configuration keeps quantkan's modes).
    """
    from quantkan.keras._deps import require
    q = require("qkeras")
    if relu:
        width, integer = (t.width - 1, t.integer - 1) if t.signed else (t.width, t.integer)
        if width < 1 or not 0 <= integer <= width:
            raise ValueError(f"{where} {t} has no quantized_relu equivalent (need 0 <= integer <= width)")
        return q.quantized_relu(width, integer)
    if not t.signed or t.width < 2 or not 1 <= t.integer <= t.width:
        raise ValueError(f"{where} {t} has no quantized_bits equivalent "
                         f"(need a signed ap_fixed<W,I> with W >= 2 and 1 <= I <= W)")
    return q.quantized_bits(t.width, t.integer - 1, alpha=1)
