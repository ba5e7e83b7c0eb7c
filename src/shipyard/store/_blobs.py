"""The artifact store's interface: content addressed by sha256, streamed, verified."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Blob", "BlobStore", "check_digest"]

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Blob:
    """Content stored once under its sha256 ``digest``."""

    digest: str
    size: int


class BlobStore(abc.ABC):
    """Blobs addressed by the sha256 of their content: identical content is stored once.

    Two implementations ship: :class:`~shipyard.store.ArtifactStore` (a folder or any fsspec
    URL) and, in remote mode (``SHIPYARD_URL``), :class:`~shipyard.store.HttpArtifactStore`
    (the platform server's ``/api/blobs``). The contract both keep:

    * a blob appears whole or not at all (written aside, renamed into place);
    * content is verified against its digest on every read (``get_bytes``, ``download``,
      ``local_path``), a mismatch raising :class:`~shipyard.errors.IntegrityError`;
    * files stream in chunks, never held whole in memory (``put_file``, ``download``,
      ``local_path``);
    * an unknown digest raises :class:`~shipyard.errors.NotFound`, a malformed one
      :class:`~shipyard.errors.InvalidInput`;
    * thread-safe.
    """

    @abc.abstractmethod
    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``; its blob (nothing is written when it is already stored)."""

    @abc.abstractmethod
    def put_file(self, path: str | Path) -> Blob:
        """Store the content of a local file, streamed; its blob."""

    @abc.abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""

    @abc.abstractmethod
    def get_bytes(self, digest: str) -> bytes:
        """The blob's content, verified against its digest."""

    @abc.abstractmethod
    def download(self, digest: str, dest: str | Path) -> Path:
        """Copy a blob to a local file, verified; the file appears only when complete."""

    @abc.abstractmethod
    def local_path(self, digest: str) -> Path:
        """A local file with the blob's content (verified), for engines that read paths."""


def check_digest(digest: str) -> str:
    """``digest`` when it is a sha256 hex digest (64 lowercase hex characters)."""
    if len(digest) != 64 or not _HEX.issuperset(digest):
        from shipyard.errors import InvalidInput

        raise InvalidInput(f"Artifact digest {digest!r} is not a sha256 hex digest.")
    return digest
