"""Trust before unpickling: a pickled model version runs its registrant's code when loaded.

Versions whose artifact is a pickle (every :class:`PythonModel` and any object only the
generic Python flavor knows, and scikit-learn models registered with
``serialization="pickle"``) load only when one of these holds:

- the caller passes ``trusted=True`` (``shipyard serve --trust``);
- the version's registrant (``created_by``: ``SHIPYARD_USER`` or the login name of whoever
  registered it) is named in ``SHIPYARD_TRUSTED_REGISTRANTS`` (comma-separated; ``*``
  names everyone, for a store only you write to);
- this process registered the version itself (it held the object already);
- the process that started this one trusted that exact version and handed it over
  (:func:`trust_version`: its id and artifact sha256, as ``serve(workers=N)`` does for its
  worker processes): a changed artifact or another version is not trusted by it.

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
_handed: set[tuple[str, str]] = set()  # (version id, artifact sha256)


def note_registered(version_id: str) -> None:
    """This process registered ``version_id``: its own object, trusted when loaded back."""
    with _lock:
        _registered_here.add(version_id)


def trust_version(version_id: str, digest: str) -> None:
    """Trust loading the version ``version_id`` in this process while its artifact's sha256
    is ``digest``: what a process hands to the processes it starts (serving workers) for the
    versions it trusted itself (see :func:`is_trusted`)."""
    with _lock:
        _handed.add((version_id, digest))


def is_trusted(info: ModelVersion) -> bool:
    """Whether this process loads ``info`` without ``trusted=True``: it is no pickle, or
    its registrant is trusted, or this process registered it or was handed it."""
    try:
        check_trusted(info, trusted=False)
    except Forbidden:
        return False
    return True


def is_pickled(info: ModelVersion) -> bool:
    """Whether loading the version's native artifact may run arbitrary code: it unpickles,
    or skops builds types beyond the safe ones. The generic Python flavor always unpickles,
    whatever its record's ``format`` says (a record its registrant may have written by
    hand); skops builds every type of the record's ``trusted`` list, which its registrant
    wrote too (``posix.system`` there is a call of ``os.system`` on load)."""
    return (
        info.flavor == "python"
        or info.flavor_meta.get("format") == "pickle"
        or bool(unsafe_types(info))
    )


def unsafe_types(info: ModelVersion) -> list[str]:
    """The names in the record's skops ``trusted`` list that skops would not build unasked
    (custom classes, functions such as ``posix.system``)."""
    names = info.flavor_meta.get("trusted")
    if not names:
        return []
    if not isinstance(names, list | tuple):
        return [repr(names)]
    from shipyard.models._flavor_sklearn import _safe_type

    return sorted(str(n) for n in names if not (isinstance(n, str) and _safe_type(n)))


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
        if info.id in _registered_here or (info.id, info.digest) in _handed:
            return
    who = repr(info.created_by) if info.created_by else "an unknown registrant"
    unsafe = unsafe_types(info)
    if unsafe:
        risk = (
            f"builds types its registrant {who} listed ({', '.join(unsafe[:5])}): loading "
            "it may run their code"
        )
    else:
        risk = f"is a pickle registered by {who}: loading it runs that code"
    raise Forbidden(
        f"Model {info.ref} {risk}. If you trust it, pass trusted=True (shipyard serve "
        f"--trust) or name the registrant in {TRUSTED_REGISTRANTS}."
    )
