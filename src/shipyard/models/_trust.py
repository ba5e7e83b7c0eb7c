"""Trust before unpickling: a pickled model version runs its registrant's code when loaded.

Versions whose artifact is a pickle (every :class:`PythonModel` and any object only the
generic Python flavor knows, and scikit-learn models registered with
``serialization="pickle"``) load only when one of these holds:

- the caller passes ``trusted=True`` (``shipyard serve --trust``);
- the version's registrant (``created_by``: ``SHIPYARD_USER`` or the login name of whoever
  registered it) is named in ``SHIPYARD_TRUSTED_REGISTRANTS`` (comma-separated; ``*``
  names everyone, for a store only you write to);
- this process registered the version itself (it held the object already).

Otherwise :class:`~shipyard.errors.Forbidden` says which version, who registered it and how
to trust it. The registrant's name is what its writer claimed, not an authenticated identity:
naming a registrant trusts anyone who can write to the store under that name. Other formats
(skops, LightGBM and XGBoost text, ONNX, ``torch.export``) build no arbitrary objects and
need no trust; skops builds the extra types its registrant listed in ``trusted=[...]``.
"""

from __future__ import annotations

import os
import threading

from shipyard.errors import Forbidden
from shipyard.models._types import ModelVersion

#: The environment variable naming trusted registrants.
TRUSTED_REGISTRANTS = "SHIPYARD_TRUSTED_REGISTRANTS"

_lock = threading.Lock()
_registered_here: set[str] = set()


def note_registered(version_id: str) -> None:
    """This process registered ``version_id``: its own object, trusted when loaded back."""
    with _lock:
        _registered_here.add(version_id)


def is_pickled(info: ModelVersion) -> bool:
    """Whether loading the version's native artifact unpickles it (runs arbitrary code).
    The generic Python flavor always unpickles, whatever its record's ``format`` says (a
    record its registrant may have written by hand)."""
    return info.flavor == "python" or info.flavor_meta.get("format") == "pickle"


def trusted_registrants() -> frozenset[str]:
    """The names in ``SHIPYARD_TRUSTED_REGISTRANTS`` (``*`` for everyone)."""
    raw = os.environ.get(TRUSTED_REGISTRANTS, "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def check_trusted(info: ModelVersion, trusted: bool) -> None:
    """Refuse to unpickle ``info`` unless it is trusted (see the module notes).

    Raises:
        Forbidden: a pickled version nobody trusted; the message says how to trust it.
    """
    if trusted or not is_pickled(info):
        return
    names = trusted_registrants()
    if "*" in names or (info.created_by is not None and info.created_by in names):
        return
    with _lock:
        if info.id in _registered_here:
            return
    who = repr(info.created_by) if info.created_by else "an unknown registrant"
    raise Forbidden(
        f"Model {info.ref} is a pickle registered by {who}: loading it runs that code. If you "
        f"trust it, pass trusted=True (shipyard serve --trust) or name the registrant in "
        f"{TRUSTED_REGISTRANTS}."
    )
