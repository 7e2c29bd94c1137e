"""Import the optional Keras-side packages, or say how to install them.

TensorFlow, QKeras and hls4ml are heavy and pin numpy below 2, so quantkan never
imports them at ``import quantkan`` time: each module of this package asks here
when it really needs one.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["INSTALL_HINT", "require"]

INSTALL_HINT = ("pip install 'quantkan[keras]' (TensorFlow 2.15, QKeras 0.9, hls4ml 1.3, numpy < 2; "
                "give it its own environment) or, in a checkout, make venv-keras")


def require(module: str) -> ModuleType:
    """Import ``module`` (tensorflow, qkeras, hls4ml, ...) or raise an ImportError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"quantkan.keras needs {module.split('.')[0]} ({err}); install it with "
                          f"{INSTALL_HINT}") from err
