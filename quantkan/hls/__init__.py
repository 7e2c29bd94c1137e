"""Vitis HLS backend: export a model's online learning step as C++, and C-simulate it here."""

from quantkan.hls.csim import CompiledLearner, CsimScore, compare_stream, compile
from quantkan.hls.emit import DEFAULT_CLOCK_NS, DEFAULT_PART, TOP, export

__all__ = ["export", "compile", "compare_stream", "CompiledLearner", "CsimScore", "DEFAULT_PART",
           "DEFAULT_CLOCK_NS", "TOP"]
