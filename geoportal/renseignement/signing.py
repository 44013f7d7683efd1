"""PAdES signatures of the issued notes, with pyHanko and the agency's key.

The signature is PAdES baseline B-B (``ETSI.CAdES.detached``, SHA-256), invisible, with the
signer's certificate (and chain) embedded and the signing time in the signature dictionary.
There is no time-stamp authority: the service makes no network call, so the signing time is
the server's clock, as the signer states it (not B-T). Readers verify the bytes and the
signer; trusting the agency's certificate is theirs to configure (a self-signed test
certificate shows in ``pdfsig`` as "Certificate issuer is unknown").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from geoportal.renseignement.signing_keys import KeyInfo, open_key, passphrase
from geoportal.settings import Settings


@dataclass(frozen=True)
class AgencySigner:
    """The agency's key, ready to sign (a pyHanko signer), and what its certificate says."""

    signer: Any
    info: KeyInfo


@dataclass(frozen=True)
class KeySource:
    """Where the key is and how to open it (picklable: batch processes load it themselves)."""

    path: Path
    passphrase: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> KeySource:
        """The installed key (refused with a clear message when there is none)."""
        path = settings.resolved_signing_key_path
        if not path.exists():
            open_key(path, b"")  # raises, saying how to make one
        return cls(path, passphrase(settings))


@lru_cache(maxsize=4)
def _opened(path: Path, secret: bytes, mtime_ns: int, size: int) -> AgencySigner:
    from geoportal.renseignement.pades import LoadedKeySigner

    material = open_key(path, secret)
    return AgencySigner(LoadedKeySigner(material), material.info)


def load_signer(source: KeySource) -> AgencySigner:
    """The agency's signer, opened once per process and again when the key file changes."""
    if not source.path.exists():
        open_key(source.path, source.passphrase)  # raises, saying how to make one
    stat = source.path.stat()
    return _opened(source.path, source.passphrase, stat.st_mtime_ns, stat.st_size)


@dataclass(frozen=True)
class SignatureFacts:
    """What the signature dictionary says besides the signature itself."""

    reason: str
    name: str
    location: str = "Casablanca"


def sign_pdf(pdf: bytes, signer: AgencySigner, facts: SignatureFacts) -> bytes:
    """The PDF with a PAdES signature appended as an incremental update: the signed file
    starts with ``pdf``, byte for byte."""
    from geoportal.renseignement.pades import sign

    return sign(pdf, signer.signer, facts.reason, facts.name, facts.location)
