"""Attachments: typed by their content (magic bytes), kept by SHA-256 outside the web root.

A file is written (and flushed to disk) before the transaction that records it commits; the
files a failed transaction wrote are removed again, unless another request holds the same
content by then.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from geoportal.core.files import write_durably
from geoportal.errors import InvalidBody, PayloadTooLarge
from geoportal.renseignement.labels import PIECES

# Media types told by the first bytes; anything else (an executable, HTML, a renamed file)
# is refused whatever its name or declared type.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
OUTLINE_TYPES = {"zip": "application/zip", "geojson": "application/geo+json",
                 "dxf": "image/vnd.dxf"}
MAX_PIECES = 8
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\\"<>|:*?]+")


@dataclass(frozen=True)
class Piece:
    """One uploaded file, checked: its kind, a display name, its type and its bytes."""

    kind: str
    filename: str
    media_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        """The content's SHA-256 (hex), its name on disk."""
        return hashlib.sha256(self.data).hexdigest()


def media_type_of(data: bytes) -> str | None:
    """The media type the content is (PDF, PNG, JPEG), or None."""
    return next((media for magic, media in SIGNATURES if data.startswith(magic)), None)


def display_name(name: str | None, fallback: str) -> str:
    """A file name safe to show and to send back: no path, no control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip(" .")[:200]
    return cleaned or fallback


def checked_piece(kind: str, filename: str | None, data: bytes, max_bytes: int) -> Piece:
    """The piece, or a 413/422 in French (too large, empty, not PDF/JPEG/PNG)."""
    label = PIECES.get(kind, (kind, kind))[0]
    if kind not in PIECES or kind == "outline":
        raise InvalidBody(f"Pièce jointe : type de pièce {kind!r} inconnu.",
                          en=f"Attachment: unknown kind of piece {kind!r}.")
    if not data:
        raise InvalidBody(f"{label} : le fichier est vide.", en=f"{kind}: the file is empty.")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{label} : le fichier dépasse {max_bytes // 1000} ko.",
                              en=f"{kind}: the file is over {max_bytes // 1000} kB.")
    media = media_type_of(data)
    if media is None:
        raise InvalidBody(
            f"{label} : seuls les PDF, JPEG et PNG sont acceptés (le contenu du fichier "
            f"{display_name(filename, kind)!r} n'en est pas un).",
            en=f"{kind}: only PDF, JPEG and PNG are accepted (the content of "
               f"{display_name(filename, kind)!r} is none of them).")
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}[media]
    return Piece(kind, display_name(filename, f"{kind}.{extension}"), media, data)


class BlobStore:
    """Files by SHA-256 under one folder (``ab/abcdef…``), written durably."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the content with that hash is kept."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("not a SHA-256")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> tuple[str, bool]:
        """Keep ``data``; its hash, and whether this call created the file."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256, False
        write_durably(target, data)  # on disk before the transaction recording it commits
        return sha256, True

    def remove(self, sha256: str) -> None:
        """Forget a file (after its transaction failed)."""
        self.path(sha256).unlink(missing_ok=True)

    def read(self, sha256: str) -> bytes:
        """The content with that hash."""
        return self.path(sha256).read_bytes()
