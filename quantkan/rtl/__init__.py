"""Amaranth RTL generators for quantkan (bit-exact with the NumPy golden model)."""
