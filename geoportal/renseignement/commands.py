"""``geoportal signing-key create|import|show`` and ``geoportal notes revoke``."""

from __future__ import annotations

import asyncio
import getpass
import stat
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from geoportal.settings import Settings

signing_key_cli = typer.Typer(help="The agency's key and certificate that sign the notes.",
                              no_args_is_help=True)
notes_cli = typer.Typer(help="Issued notes de renseignement urbanistique.",
                        no_args_is_help=True)
console = Console(emoji=False)  # a fingerprint holds ":CD:", which rich reads as an emoji code
err = Console(stderr=True, emoji=False)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


def _fingerprint(sha256: str) -> str:
    return ":".join(sha256[i:i + 2] for i in range(0, len(sha256), 2)).upper()


def _print_key(settings: Settings, title: str) -> None:
    from geoportal.renseignement.signing_keys import key_info, passphrase_path

    info = key_info(settings)
    table = Table(title=title, show_header=False, box=None, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")  # a fingerprint is never cut short
    table.add_row("file", str(info.path))
    table.add_row("subject", info.subject)
    table.add_row("issuer", info.issuer + ("  (self-signed)" if info.self_signed else ""))
    table.add_row("valid", f"{info.not_before:%Y-%m-%d %H:%M} UTC → "
                           f"{info.not_after:%Y-%m-%d %H:%M} UTC")
    table.add_row("key", info.key_type)
    table.add_row("serial", info.serial)
    table.add_row("SHA-256", _fingerprint(info.sha256))
    table.add_row("passphrase", "GEOPORTAL_SIGNING_PASSPHRASE" if settings.signing_passphrase
                  else str(passphrase_path(info.path)))
    console.print(table)
    mode = stat.S_IMODE(info.path.stat().st_mode)
    if mode & 0o077:
        err.print(f"[yellow]warning:[/] {info.path} is readable by others (mode {mode:o}): "
                  f"chmod 600 {info.path}")


@signing_key_cli.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Who signs, e.g. \"Agence urbaine de "
                                                 "Casablanca\" (the certificate's CN)."),
    days: int = typer.Option(1095, "--days", min=1, max=3650, help="Validity in days."),
    key_type: str = typer.Option("rsa", "--key-type", help="rsa (RSA-3072) or ec (P-256)."),
    replace: bool = typer.Option(False, "--replace", help="Replace an installed key."),
) -> None:
    """Make a self-signed signing certificate (tests, or until the agency's arrives)."""
    from geoportal.renseignement.signing_keys import SigningKeyError, create_signing_key

    if key_type not in ("rsa", "ec"):
        raise _fail(f"--key-type must be rsa or ec, not {key_type!r}")
    settings = Settings()
    try:
        create_signing_key(settings, name, days=days, key_type="ec" if key_type == "ec"
                           else "rsa", replace=replace)
        _print_key(settings, "signing key created")
    except SigningKeyError as exc:
        raise _fail(str(exc)) from exc


@signing_key_cli.command("import")
def import_(
    file: Path = typer.Argument(..., help="The agency's PKCS#12 (.p12 / .pfx)."),
    passphrase_file: Path | None = typer.Option(
        None, "--passphrase-file", help="A file whose first line is the PKCS#12's passphrase."),
    replace: bool = typer.Option(False, "--replace", help="Replace an installed key."),
) -> None:
    """Install the agency's key and certificate (re-encrypted with the service's passphrase)."""
    from geoportal.renseignement.signing_keys import SigningKeyError, import_signing_key

    settings = Settings()
    try:
        data = file.read_bytes()
        secret = (passphrase_file.read_text(encoding="utf-8").splitlines() or [""])[0] \
            if passphrase_file else ""
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename}: {exc.strerror}") from exc
    try:
        import_signing_key(settings, data, secret.encode() or None, replace=replace)
        _print_key(settings, "signing key imported")
    except SigningKeyError as exc:
        raise _fail(str(exc)) from exc


@signing_key_cli.command("show")
def show() -> None:
    """What the installed certificate says: subject, validity, fingerprint (never the key)."""
    from geoportal.renseignement.signing_keys import SigningKeyError

    try:
        _print_key(Settings(), "signing key")
    except SigningKeyError as exc:
        raise _fail(str(exc)) from exc


async def _revoke(url: str, number: str, reason: str, actor: str) -> str:
    import asyncpg

    from geoportal.renseignement.issue import revoke_note

    conn = await asyncpg.connect(url)
    try:
        return (await revoke_note(conn, number, reason, actor)).reason
    finally:
        await conn.close()


@notes_cli.command("revoke")
def revoke(
    number: str = typer.Argument(..., help="The note's number."),
    reason: str = typer.Option(..., "--reason", help="Why (shown on the verification page)."),
) -> None:
    """Revoke an issued note: /verify/NUMBER says so, with the reason, from now on."""
    from geoportal.db.cluster import ClusterError
    from geoportal.db.urls import libpq_url, resolve_write_database_url
    from geoportal.errors import GeoportalError

    settings = Settings()
    try:
        url = libpq_url(resolve_write_database_url(settings))
        text = asyncio.run(_revoke(url, number, reason, f"cli:{getpass.getuser()}"))
    except ClusterError as exc:
        raise _fail(str(exc)) from exc
    except GeoportalError as exc:
        raise _fail(exc.en) from exc
    except (OSError, ConnectionError) as exc:
        raise _fail(f"database unreachable: {type(exc).__name__}") from exc
    except Exception as exc:  # asyncpg errors: their class says enough, never the SQL
        if type(exc).__module__.startswith("asyncpg"):
            raise _fail(f"database: {type(exc).__name__} (is it migrated? `geoportal "
                        "migrate`)") from exc
        raise
    console.print(f"note {number} revoked: {text}")
