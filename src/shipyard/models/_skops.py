"""``skops.io``, imported without importing PyTorch.

When skops is first imported it lists scikit-learn's estimators (``all_estimators``), which
walks every scikit-learn package. One of them, ``sklearn.externals.array_api_compat.torch``,
imports PyTorch when it is installed: 2-7 s and hundreds of megabytes in every process that
loads a scikit-learn model (each ``shipyard serve`` worker), for no estimator (none lives
there). While skops is imported, that one package is stood in for by an empty module; the
stand-in is removed at once, so code that later uses the array API with PyTorch imports the
real package as usual. The list skops builds is the same (a test compares it).
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"
_lock = threading.Lock()


def skops_io() -> Any:
    """The ``skops.io`` module, imported without PyTorch when nothing imported it yet."""
    loaded = sys.modules.get("skops.io")
    if loaded is not None:
        return loaded
    with _lock:
        if "torch" in sys.modules or _TORCH_SHIM in sys.modules:
            import skops.io

            return skops.io
        sys.modules[_TORCH_SHIM] = types.ModuleType(_TORCH_SHIM)
        try:
            import skops.io
        finally:
            sys.modules.pop(_TORCH_SHIM, None)
        return skops.io
