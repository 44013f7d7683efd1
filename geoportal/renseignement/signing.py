"""PAdES signatures of the issued notes, with pyHanko and the agency's key.

The signature is PAdES baseline B-B (``ETSI.CAdES.detached``, SHA-256), invisible, with the
signer's certificate (and chain) embedded and the signing time in the signature dictionary.
There is no time-stamp authority: the service makes no network call, so the signing time is
the server's clock, as the signer states it (not B-T). Readers verify the bytes and the
signer; trusting the agency's certificate is theirs to configure (a self-signed test
certificate shows in ``pdfsig`` as "Certificate issuer is unknown").
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko_certvalidator.registry import SimpleCertificateStore

from geoportal.renseignement.signing_keys import (
    KeyInfo,
    KeyMaterial,
    SigningKeyError,
    open_key,
    passphrase,
)
from geoportal.settings import Settings

FIELD_NAME = "SignatureAUC"


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


class _LoadedKeySigner(signers.SimpleSigner):
    """pyHanko's in-memory signer with the key parsed once (pyHanko parses it again for
    each signature, twice per note: over 100 ms for an RSA key)."""

    def __init__(self, material: KeyMaterial) -> None:
        der = material.key.private_bytes(serialization.Encoding.DER,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        store = SimpleCertificateStore()
        store.register_multiple([_asn1(c) for c in material.chain])
        super().__init__(signing_cert=_asn1(material.certificate),
                         signing_key=asn1_keys.PrivateKeyInfo.load(der), cert_registry=store)
        self._key = material.key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """The raw signature of ``data`` (RSA PKCS#1 v1.5 or ECDSA; others as pyHanko)."""
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        hash_algorithm = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hash_algorithm)
        if mechanism == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_algorithm))
        signature: bytes = super().sign_raw(data, digest_algorithm)
        return signature


@dataclass(frozen=True)
class AgencySigner:
    """The agency's key, ready to sign, and what its certificate says."""

    signer: signers.Signer
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
    material = open_key(path, secret)
    return AgencySigner(_LoadedKeySigner(material), material.info)


def load_signer(source: KeySource) -> AgencySigner:
    """The agency's signer, opened once per process and again when the key file changes."""
    try:
        stat = source.path.stat()
    except FileNotFoundError:
        open_key(source.path, source.passphrase)  # raises, saying how to make one
        raise
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
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason=facts.reason, location=facts.location, name=facts.name)
    output = signers.PdfSigner(metadata, signer=signer.signer).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)))
    signed: bytes = output.getvalue()
    return signed


__all__ = ["FIELD_NAME", "AgencySigner", "KeySource", "SignatureFacts", "SigningKeyError",
           "load_signer", "sign_pdf"]
