"""``geoportal signing-key create|import|show``: the agency's key kept private (0600),
described without ever printing it, and every mistake a clear message, not a traceback."""

from __future__ import annotations

import datetime as dt
import re
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nru_fixture import geoportal_cli

from geoportal.renseignement.signing_keys import passphrase_path
from geoportal.settings import Settings

KEY_FILE = Path("signing") / "agency-signing.p12"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fingerprint(certificate: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in certificate.fingerprint(hashes.SHA256()))


def clean(output: str) -> str:
    return re.sub(r"\s+", " ", output)


def test_create_then_show_describes_the_certificate_and_never_the_key(tmp_path: Path) -> None:
    created = geoportal_cli(tmp_path, "signing-key", "create", "--name",
                            "Agence urbaine de Casablanca", "--days", "30")
    assert created.returncode == 0, created.stderr
    key_file = tmp_path / KEY_FILE
    assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
    shown = geoportal_cli(tmp_path, "signing-key", "show")
    assert shown.returncode == 0, shown.stderr
    text = clean(shown.stdout)
    assert "CN=Agence urbaine de Casablanca" in text and "(self-signed)" in text
    assert "RSA 3072" in text and "GEOPORTAL_SIGNING_PASSPHRASE" in text
    assert re.search(r"SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}", text), text
    for secret in ("PRIVATE KEY", "passphrase-of-the-test-key", "BEGIN"):
        assert secret not in shown.stdout + shown.stderr
    days = re.search(r"valid (\d{4}-\d{2}-\d{2}) \S+ UTC → (\d{4}-\d{2}-\d{2})", text)
    assert days is not None
    start, end = (dt.date.fromisoformat(d) for d in days.groups())
    assert (end - start).days == 30


def test_a_key_is_not_replaced_unless_asked(tmp_path: Path) -> None:
    assert geoportal_cli(tmp_path, "signing-key", "create", "--name", "A").returncode == 0
    before = (tmp_path / KEY_FILE).read_bytes()
    again = geoportal_cli(tmp_path, "signing-key", "create", "--name", "B")
    assert again.returncode == 1 and "already installed" in again.stderr
    assert "Traceback" not in again.stderr and (tmp_path / KEY_FILE).read_bytes() == before
    replaced = geoportal_cli(tmp_path, "signing-key", "create", "--name", "B", "--replace",
                             "--key-type", "ec")
    assert replaced.returncode == 0, replaced.stderr
    assert "CN=B" in replaced.stdout and "ECDSA secp256r1" in replaced.stdout


def test_in_development_without_a_passphrase_one_is_generated_beside_the_key(
        tmp_path: Path) -> None:
    env = {"GEOPORTAL_SIGNING_PASSPHRASE": ""}
    created = geoportal_cli(tmp_path, "signing-key", "create", "--name", "Dev", env=env)
    assert created.returncode == 0, created.stderr
    secret = passphrase_path(tmp_path / KEY_FILE)
    assert mode(secret) == 0o600 and len(secret.read_text().strip()) >= 40
    shown = geoportal_cli(tmp_path, "signing-key", "show", env=env)
    assert shown.returncode == 0 and str(secret) in clean(shown.stdout)
    production = geoportal_cli(tmp_path / "prod", "signing-key", "create", "--name", "Prod",
                               env={**env, "GEOPORTAL_ENVIRONMENT": "production"})
    assert production.returncode == 1
    assert "set GEOPORTAL_SIGNING_PASSPHRASE" in production.stderr
    assert not (tmp_path / "prod" / KEY_FILE).exists()


def agency_p12(tmp_path: Path, secret: bytes) -> tuple[Path, x509.Certificate]:
    """A PKCS#12 as a certification authority would deliver it (here: made by the test)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AUC Signature Officielle")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=365))
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    path = tmp_path / "agency.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"auc", key, certificate, None, serialization.BestAvailableEncryption(secret)))
    return path, certificate


def test_import_installs_the_agencys_pkcs12_reencrypted(tmp_path: Path) -> None:
    p12, certificate = agency_p12(tmp_path, b"ca-delivered secret")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n")
    refused = geoportal_cli(tmp_path / "home", "signing-key", "import", str(p12),
                            "--passphrase-file", str(wrong))
    assert refused.returncode == 1 and "wrong passphrase" in refused.stderr
    assert "Traceback" not in refused.stderr
    right = tmp_path / "right.txt"
    right.write_text("ca-delivered secret\n")
    imported = geoportal_cli(tmp_path / "home", "signing-key", "import", str(p12),
                             "--passphrase-file", str(right))
    assert imported.returncode == 0, imported.stderr
    shown = geoportal_cli(tmp_path / "home", "signing-key", "show")
    assert fingerprint(certificate) in clean(shown.stdout)
    stored = (tmp_path / "home" / KEY_FILE).read_bytes()
    assert stored != p12.read_bytes() and mode(tmp_path / "home" / KEY_FILE) == 0o600
    key, _, _ = pkcs12.load_key_and_certificates(stored, b"passphrase-of-the-test-key")
    assert key is not None  # re-encrypted with the service's own passphrase


def test_show_without_a_key_and_import_of_garbage_say_what_to_do(tmp_path: Path) -> None:
    shown = geoportal_cli(tmp_path, "signing-key", "show")
    assert shown.returncode == 1 and "geoportal signing-key create" in shown.stderr
    garbage = tmp_path / "garbage.p12"
    garbage.write_bytes(b"not a certificate")
    imported = geoportal_cli(tmp_path, "signing-key", "import", str(garbage))
    assert imported.returncode == 1 and "not a PKCS#12" in imported.stderr
    missing = geoportal_cli(tmp_path, "signing-key", "import", str(tmp_path / "nope.p12"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    for result in (shown, imported, missing):
        assert "Traceback" not in result.stderr


def test_the_key_path_setting_defaults_to_the_home() -> None:
    settings = Settings(home=Path("/srv/geoportal"))
    assert settings.resolved_signing_key_path == Path("/srv/geoportal/signing/agency-signing.p12")
    assert Settings(signing_key_path=Path("/k.p12")).resolved_signing_key_path == Path("/k.p12")
