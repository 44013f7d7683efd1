"""The agency's signing key: a PKCS#12 (key + certificate) in the service's home, mode 0600.

``geoportal signing-key create`` makes a self-signed certificate (for a test or while the
agency's certificate is on order), ``import`` takes the agency's PKCS#12 from a certification
authority, ``show`` says what is installed — never the key. The PKCS#12 is encrypted with
``GEOPORTAL_SIGNING_PASSPHRASE``; in development, when it is unset, a random passphrase is
generated and kept beside the key (``….passphrase``, mode 0600).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from geoportal.core.files import write_durably
from geoportal.settings import Settings

KeyType = Literal["rsa", "ec"]
SigningPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
AGENCY = "Agence urbaine de Casablanca"
RSA_BITS = 3072
MAX_DAYS = 3650
# Extended key usages of a document-signing certificate: e-mail protection (what NSS, hence
# poppler's pdfsig, checks for signatures), RFC 9336 document signing, Adobe's document OID.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
ADOBE_AUTHENTIC_DOCUMENTS = ObjectIdentifier("1.2.840.113583.1.1.5")


class SigningKeyError(Exception):
    """A signing key that cannot be made, read or used; the message says what to do."""


@dataclass(frozen=True)
class KeyInfo:
    """What the installed certificate says (nothing secret)."""

    path: Path
    subject: str
    common_name: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str
    key_type: str

    @property
    def self_signed(self) -> bool:
        """Whether the certificate is its own issuer (a test or interim certificate)."""
        return self.subject == self.issuer

    def valid_at(self, moment: dt.datetime) -> bool:
        """Whether ``moment`` is within the certificate's validity."""
        return self.not_before <= moment <= self.not_after


@dataclass(frozen=True)
class KeyMaterial:
    """The decrypted key, its certificate and any chain certificates (in memory only)."""

    key: SigningPrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    info: KeyInfo


def passphrase_path(key_path: Path) -> Path:
    """Where a development passphrase is kept, beside the key."""
    return key_path.with_name(key_path.name + ".passphrase")


def passphrase(settings: Settings, *, create: bool = False) -> bytes:
    """The PKCS#12's passphrase: the setting, else the development file beside the key
    (generated when ``create`` in development); refused outside development."""
    if settings.signing_passphrase is not None:
        configured = settings.signing_passphrase.get_secret_value()
        if not configured:
            raise SigningKeyError("GEOPORTAL_SIGNING_PASSPHRASE is empty")
        return configured.encode()
    path = passphrase_path(settings.resolved_signing_key_path)
    if path.exists():
        return path.read_bytes().strip()
    if settings.environment != "development":
        raise SigningKeyError("set GEOPORTAL_SIGNING_PASSPHRASE: outside development the "
                              "signing key's passphrase is never kept on disk")
    if not create:
        raise SigningKeyError(f"no passphrase for the signing key ({path} is missing): set "
                              "GEOPORTAL_SIGNING_PASSPHRASE or recreate the key")
    value = secrets.token_urlsafe(32).encode()
    write_durably(path, value + b"\n")
    return value


def _name(attributes: x509.Name) -> str:
    return attributes.rfc4514_string()


def describe(path: Path, certificate: x509.Certificate) -> KeyInfo:
    """The public facts of a certificate."""
    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        key_type = f"RSA {public_key.key_size}"
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        key_type = f"ECDSA {public_key.curve.name}"
    else:
        key_type = type(public_key).__name__
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else _name(certificate.subject)
    return KeyInfo(path=path, subject=_name(certificate.subject), common_name=common_name,
                   issuer=_name(certificate.issuer), serial=f"{certificate.serial_number:x}",
                   not_before=certificate.not_valid_before_utc,
                   not_after=certificate.not_valid_after_utc,
                   sha256=certificate.fingerprint(hashes.SHA256()).hex(), key_type=key_type)


def self_signed_certificate(key: SigningPrivateKey, name: str, days: int,
                            now: dt.datetime, organization: str = AGENCY) -> x509.Certificate:
    """A self-signed document-signing certificate (an end entity, not a CA)."""
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "MA"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Casablanca"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                          decipher_only=False)
    start = now.replace(microsecond=0) - dt.timedelta(minutes=5)  # clocks a little behind
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                              DOCUMENT_SIGNING, ADOBE_AUTHENTIC_DOCUMENTS]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )


def new_private_key(key_type: KeyType) -> SigningPrivateKey:
    """A fresh RSA-3072 or ECDSA P-256 key."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def check_usable(certificate: x509.Certificate, key: object, now: dt.datetime) -> None:
    """Refuse a key and certificate that cannot sign a note now."""
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"unsupported key type {type(key).__name__}: use RSA or ECDSA")
    public = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    own = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if public != own:
        raise SigningKeyError("the private key does not belong to the certificate")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SigningKeyError(
            f"the certificate is valid from {certificate.not_valid_before_utc:%Y-%m-%d} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}, not now")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise SigningKeyError("the certificate's key usage does not allow signatures "
                              "(digitalSignature or nonRepudiation)")


def _store(settings: Settings, key: SigningPrivateKey, certificate: x509.Certificate,
           chain: list[x509.Certificate], replace: bool) -> KeyInfo:
    path = settings.resolved_signing_key_path
    if path.exists() and not replace:
        raise SigningKeyError(f"a signing key is already installed at {path}; pass --replace "
                              "to replace it (notes already issued stay verifiable)")
    secret = passphrase(settings, create=True)
    data = pkcs12.serialize_key_and_certificates(
        b"agency-signing", key, certificate, chain or None,
        serialization.BestAvailableEncryption(secret))
    write_durably(path, data)
    return describe(path, certificate)


def create_signing_key(settings: Settings, name: str, *, days: int = 1095,
                       key_type: KeyType = "rsa", replace: bool = False,
                       now: dt.datetime | None = None) -> KeyInfo:
    """Make and install a self-signed key and certificate for ``name``."""
    if not name.strip():
        raise SigningKeyError("--name must not be empty")
    if not 1 <= days <= MAX_DAYS:
        raise SigningKeyError(f"--days must be between 1 and {MAX_DAYS}")
    key = new_private_key(key_type)
    certificate = self_signed_certificate(key, name.strip(), days, now or dt.datetime.now(dt.UTC))
    return _store(settings, key, certificate, [], replace)


def import_signing_key(settings: Settings, data: bytes, secret: bytes | None, *,
                       replace: bool = False, now: dt.datetime | None = None) -> KeyInfo:
    """Install the agency's PKCS#12 (re-encrypted with the service's passphrase)."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, secret or None)
    except ValueError as exc:
        raise SigningKeyError("cannot read the file: not a PKCS#12, or a wrong passphrase "
                              "(--passphrase-file)") from exc
    if key is None or certificate is None:
        raise SigningKeyError("the PKCS#12 must hold a private key and its certificate")
    check_usable(certificate, key, now or dt.datetime.now(dt.UTC))
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return _store(settings, key, certificate, list(chain), replace)


def open_key(path: Path, secret: bytes) -> KeyMaterial:
    """The key at ``path``, decrypted (for signing), and its certificate."""
    if not path.exists():
        raise SigningKeyError(f"no signing key at {path}: run `geoportal signing-key create "
                              "--name ...` or `geoportal signing-key import FILE.p12`")
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(path.read_bytes(), secret)
    except ValueError as exc:
        raise SigningKeyError(f"cannot open {path}: wrong passphrase "
                              "(GEOPORTAL_SIGNING_PASSPHRASE) or damaged file") from exc
    if certificate is None or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"{path} holds no usable key and certificate")
    return KeyMaterial(key, certificate, tuple(chain), describe(path, certificate))


def load_key_material(settings: Settings) -> KeyMaterial:
    """The installed key, decrypted, and its certificate."""
    path = settings.resolved_signing_key_path
    if not path.exists():
        return open_key(path, b"")  # says how to make one
    return open_key(path, passphrase(settings))


def key_info(settings: Settings) -> KeyInfo:
    """The installed certificate's public facts."""
    return load_key_material(settings).info
