"""CLI: ``quantkan export hls4ml`` and ``quantkan import``.

Nothing here imports TensorFlow, QKeras or hls4ml until a command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from quantkan.options import add_config, add_model_file, add_output, nonnegative_int, positive_float

__all__ = ["add_commands"]


def _export_hls4ml(args: argparse.Namespace) -> int:
    from quantkan.keras.hls4ml_convert import convert, golden_predict_raw, predict_raw
    from quantkan.models import KAN
    from quantkan.train import load_run

    model, stream, _ = load_run(args.config, args.model, args.model_replaces_config)
    if isinstance(model, KAN):
        from quantkan.keras.layer import from_quantkan
        keras_model, via = from_quantkan(model), "a Keras model of quantkan KANLayers"
    else:
        from quantkan.keras.qkeras_import import to_qkeras
        keras_model, via = to_qkeras(model), "an equivalent QKeras model"
    hls_model = convert(keras_model, model, args.output, backend=args.backend, part=args.part,
                        clock_period=args.clock, from_quantizers=False)
    hls_model.write()
    print(f"wrote hls4ml project {args.output} ({args.backend}, io_parallel) for {model!r} via {via}")
    print("  inference only (the forward pass); `quantkan export hls` writes the on-chip learner")
    if args.check > 0:
        hls_model.compile()
        n = min(args.check, stream.n)
        x = model.types.input.quantize(stream.x[:n])
        bad = int(np.sum(np.any(predict_raw(hls_model, model, x) != golden_predict_raw(model, x), axis=1)))
        print(f"  hls4ml C simulation vs golden forward pass: {n - bad} of {n} task inputs bit-identical")
        if bad:
            return 1
    print(f"synthesize with Vitis: cd {args.output} && vitis_hls -f build_prj.tcl (or hls_model.build())")
    return 0


def _parse_types(items: list[str]) -> dict[str, str]:
    types = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--type expects name=ap_fixed<...>, got {item!r}")
        types[name.strip()] = value.strip()
    return types


def _import(args: argparse.Namespace) -> int:
    from quantkan import persist
    from quantkan.keras._deps import require

    require("tensorflow")
    from quantkan.keras.layer import KANLayer, to_quantkan  # registers KANLayer for loading
    from quantkan.keras.qkeras_import import from_qkeras
    qkeras_utils = require("qkeras.utils")
    try:
        keras_model = qkeras_utils.load_qmodel(args.keras_model, compile=False)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"cannot load Keras model {args.keras_model}: {err}") from None
    types = _parse_types(args.type)
    if any(isinstance(layer, KANLayer) for layer in keras_model.layers):
        if types:
            raise ValueError("a Keras KAN carries its types in its KANLayers; --type is for QKeras MLPs")
        model = to_quantkan(keras_model)
    else:
        model = from_qkeras(keras_model, types=types)
    path = persist.save(model, args.output, metadata={"imported_from": str(args.keras_model)})
    print(f"imported {model!r} from {args.keras_model}; wrote {path}")
    return 0


def add_commands(sub: Any, export: Any) -> None:
    """Register ``export hls4ml`` and ``import`` (see quantkan.cli._COMMAND_MODULES)."""
    from quantkan.hls.emit import DEFAULT_CLOCK_NS, DEFAULT_PART

    p = export.add_parser("hls4ml", help="an hls4ml project of the forward pass (needs quantkan[keras])")
    add_config(p, "the model (and the task --check draws inputs from)")
    add_output(p, "project folder to write", required=True)
    add_model_file(p)
    p.add_argument("--backend", choices=("Vitis", "Vivado"), default="Vitis", help="hls4ml backend")
    p.add_argument("--part", default=DEFAULT_PART, help="Xilinx part")
    p.add_argument("--clock", type=positive_float, default=DEFAULT_CLOCK_NS, help="clock period in ns")
    p.add_argument("--check", type=nonnegative_int, default=0, metavar="N",
                   help="compile with g++ and compare N task inputs with the golden model, bit for bit")
    p.set_defaults(run=_export_hls4ml)
    p = sub.add_parser("import", help="a trained QKeras MLP or Keras KAN (.h5/.keras) as a .qkan model "
                                      "(needs quantkan[keras])")
    p.add_argument("keras_model", help="a saved Keras model")
    add_output(p, "model file to write (.qkan)", required=True)
    p.add_argument("--type", action="append", default=[], metavar="NAME=TYPE",
                   help="a type the QKeras model does not give, e.g. input='ap_fixed<16,2,AP_RND_CONV,AP_SAT>'")
    p.set_defaults(run=_import)
