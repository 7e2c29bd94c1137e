"""quantkan: fixed-point KANs and MLPs that learn online on FPGAs, bit-exact from NumPy to hardware."""

from quantkan.fixed import FixedType, Overflow, Rounding

__all__ = ["FixedType", "Overflow", "Rounding"]
__version__ = "0.1.0"
