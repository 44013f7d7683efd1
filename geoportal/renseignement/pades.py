"""pyHanko's side of signing (imported only when a note is signed: pyHanko takes half a
second to import)."""

from __future__ import annotations

import io

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash
from pyhanko_certvalidator.registry import SimpleCertificateStore

from geoportal.renseignement.signing_keys import KeyMaterial

FIELD_NAME = "SignatureAUC"
RESERVE_MARGIN = 2048  # bytes: signed attributes, CMS structure


def asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    """A certificate as pyHanko's ASN.1 library holds it."""
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


class LoadedKeySigner(signers.SimpleSigner):
    """pyHanko's in-memory signer with the key parsed once (pyHanko parses it again for
    each signature, twice per note: over 100 ms for an RSA key)."""

    def __init__(self, material: KeyMaterial) -> None:
        der = material.key.private_bytes(serialization.Encoding.DER,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        store = SimpleCertificateStore()
        store.register_multiple([asn1_certificate(c) for c in material.chain])
        super().__init__(signing_cert=asn1_certificate(material.certificate),
                         signing_key=asn1_keys.PrivateKeyInfo.load(der), cert_registry=store)
        self._key = material.key
        # the signature container's room in the PDF, stated rather than estimated: pyHanko
        # otherwise builds a whole dry-run signature first to measure it (a third of the
        # signing time); certificates, signature value and signed attributes fit in it
        certificates = [c.public_bytes(serialization.Encoding.DER)
                        for c in (material.certificate, *material.chain)]
        public = material.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        size = RESERVE_MARGIN + len(public) + sum(map(len, certificates))
        self.bytes_reserved = 2 * size  # hexadecimal digits in the PDF

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


def sign(pdf: bytes, signer: signers.Signer, reason: str, name: str, location: str) -> bytes:
    """``pdf`` with a PAdES B-B signature appended as an incremental update."""
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason=reason, location=location, name=name)
    pdf_signer = signers.PdfSigner(metadata, signer=signer)
    reserved = getattr(signer, "bytes_reserved", None)
    try:
        output = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)),
                                     bytes_reserved=reserved)
    except SigningError:
        if reserved is None:
            raise
        # the stated room was too small after all (an unusual chain): let pyHanko measure
        output = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))
    signed: bytes = output.getvalue()
    return signed
