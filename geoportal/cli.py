"""The ``geoportal`` command line."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from geoportal.core.i18n import Language
from geoportal.db.cluster import Cluster, ClusterError

if TYPE_CHECKING:
    from geoportal.db.backup import Backups
from geoportal.db.urls import (
    redacted,
    resolve_admin_database_url,
    resolve_database_url,
    resolve_replica_urls,
)
from geoportal.registry import RegistryError, load_registry
from geoportal.renseignement.commands import notes_cli, signing_key_cli
from geoportal.settings import Settings

cli = typer.Typer(help="Géoportail de l'Agence urbaine de Casablanca.", no_args_is_help=True)
db_cli = typer.Typer(help="The private PostgreSQL + PostGIS cluster (when no URL is set).")
cli.add_typer(db_cli, name="db")
keys_cli = typer.Typer(help="API keys for writing (editor, instructeur, signataire, admin).",
                       no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(signing_key_cli, name="signing-key")
cli.add_typer(notes_cli, name="notes")
renseignement_cli = typer.Typer(help="e-renseignement: requests for the official note.",
                                no_args_is_help=True)
cli.add_typer(renseignement_cli, name="renseignement")
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


def _database_url(settings: Settings) -> str:
    """The web service's URL."""
    try:
        return resolve_database_url(settings)
    except ClusterError as exc:
        raise _fail(str(exc)) from exc


def _admin_url(settings: Settings) -> str:
    """The schema owner's URL: migrations, imports and the demo change the schema or data."""
    try:
        return resolve_admin_database_url(settings)
    except ClusterError as exc:
        raise _fail(str(exc)) from exc


@db_cli.command("start")
def db_start(
    replicas: int = typer.Option(0, "--replicas", min=0, max=8, help="Also make and start N "
                                 "streaming replicas (pg_basebackup) on loopback ports; the "
                                 "service then reads from them."),
    ha: bool = typer.Option(False, "--ha", help="Instead, a highly available topology: "
                            "pg_auto_failover's monitor, a primary and a synchronous standby "
                            "(installing postgresql-15-auto-failover if needed)."),
) -> None:
    """Start the private cluster (installing PostgreSQL + PostGIS if needed)."""
    settings = Settings()
    if settings.database_url:
        console.print(f"GEOPORTAL_DATABASE_URL is set ({redacted(settings.database_url)}): "
                      "nothing to start.")
        return
    if ha:
        _start_ha(settings)
        return
    cluster = Cluster(settings)
    try:
        url = cluster.start()
        replica_urls = cluster.start_replicas(replicas) if replicas else cluster.replica_urls()
    except ClusterError as exc:
        raise _fail(str(exc)) from exc
    if settings.backup_enabled or settings.backup_repo:
        from geoportal.db.backup import BackupError, Backups

        try:
            Backups(settings, cluster).enable(say=console.print)
        except BackupError as exc:
            raise _fail(str(exc)) from exc
        console.print("WAL archived to pgBackRest (point-in-time recovery): "
                      "`geoportal db backup` takes a backup")
    console.print(f"PostGIS ready at {redacted(url)} (the service's role)\n"
                  f"  schema owner (migrate, import, demo): {redacted(cluster.admin_url())}")
    for replica in replica_urls:
        console.print(f"  read replica (streaming): {redacted(replica)}")


def _start_ha(settings: Settings) -> None:
    from geoportal.db.ha import HaCluster

    topology = HaCluster(settings)
    try:
        topology.start()
    except ClusterError as exc:
        raise _fail(str(exc)) from exc
    console.print(topology.status())
    console.print("Point the service at it (migrate and load the demo with the same "
                  "settings):")
    for name, value in topology.environment().items():
        print(f"export {name}='{value}'")


@db_cli.command("stop")
def db_stop() -> None:
    """Stop the private cluster, its replicas and the HA topology, whichever run."""
    from geoportal.db.ha import HaCluster

    settings = Settings()
    HaCluster(settings).stop()
    Cluster(settings).stop()
    console.print("stopped")


@db_cli.command("status")
def db_status() -> None:
    """Say whether the private cluster (and its replicas, or the HA topology) runs."""
    from geoportal.db.ha import HaCluster

    settings = Settings()
    if settings.database_url:
        console.print(f"external database: {redacted(settings.database_url)}")
        for replica in resolve_replica_urls(settings):
            console.print(f"  read replica: {redacted(replica)}")
        return
    console.print(Cluster(settings).status())
    topology = HaCluster(settings)
    if topology.exists():
        console.print(topology.status())


def _backups(settings: Settings) -> Backups:
    from geoportal.db.backup import Backups

    if settings.database_url:
        raise _fail("GEOPORTAL_DATABASE_URL is set: back that server up with its own "
                    "pgBackRest (see deploy/pgbackrest.conf), not the private cluster's")
    return Backups(settings)


@db_cli.command("backup")
def db_backup(
    kind: str = typer.Option("full", "--type", help="full, incr (since the last backup) or "
                             "diff (since the last full)."),
) -> None:
    """Back the private cluster up with pgBackRest (turning WAL archiving on if needed)."""
    from geoportal.db.backup import BackupError

    backups = _backups(Settings())
    started = time.perf_counter()
    try:
        done = backups.backup(kind, say=lambda line: console.print(f"  {line}"))
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"backup {done.label} ({done.kind}, {done.size_bytes / 1e6:.1f} MB) in "
                  f"{time.perf_counter() - started:.1f} s, repository {backups.repo}")


@db_cli.command("backups")
def db_backups(
    prometheus: bool = typer.Option(False, "--prometheus", help="Print the age metric for "
                                    "node_exporter's textfile collector instead."),
) -> None:
    """List the backups of the private cluster (oldest first)."""
    from geoportal.db.backup import BackupError

    try:
        sets = _backups(Settings()).list()
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    if prometheus:
        print("# HELP geoportal_backup_last_completed_timestamp_seconds End of the last backup."
              "\n# TYPE geoportal_backup_last_completed_timestamp_seconds gauge")
        last = max((s.stopped.timestamp() for s in sets), default=0.0)
        print(f"geoportal_backup_last_completed_timestamp_seconds {last:.0f}")
        return
    table = Table("label", "type", "started", "ended", "size")
    for item in sets:
        table.add_row(item.label, item.kind, f"{item.started:%Y-%m-%d %H:%M:%S}Z",
                      f"{item.stopped:%Y-%m-%d %H:%M:%S}Z", f"{item.size_bytes / 1e6:.1f} MB")
    console.print(table if sets else "no backup yet: geoportal db backup")


@db_cli.command("restore")
def db_restore(
    to: str = typer.Option(..., "--to", help="The moment to go back to, e.g. "
                           "'2026-12-07 14:03:00+01' (without an offset: Casablanca time)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Restore the private cluster as it was at a moment (stop, restore, replay, promote)."""
    from geoportal.db.backup import BackupError, parse_target

    backups = _backups(Settings())
    try:
        target = parse_target(to)
        if not yes:
            typer.confirm(f"Every change after {target.isoformat()} will be lost (the "
                          "database is stopped during the restore). Go on?", abort=True)
        started = time.perf_counter()
        chosen = backups.restore(target, say=lambda line: console.print(f"  {line}"))
    except BackupError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"restored from {chosen.label} to {target.isoformat()} in "
                  f"{time.perf_counter() - started:.1f} s")


@db_cli.command("url")
def db_url(
    admin: bool = typer.Option(False, "--admin", help="The schema owner's URL instead."),
) -> None:
    """Print the service's database URL (with its password, for scripts)."""
    settings = Settings()
    print(_admin_url(settings) if admin else _database_url(settings))


@cli.command()
def migrate(revision: str = typer.Argument("head")) -> None:
    """Migrate the database schema (to head by default)."""
    from geoportal.db.migrate import upgrade

    upgrade(_admin_url(Settings()), revision)
    console.print(f"database at revision {revision}")


@cli.command()
def demo(
    parcels: int = typer.Option(
        20_000, min=0, max=1_200_000, help="How many plots (the land holds about 1.2 million)."
    ),
    seed: int = typer.Option(42, help="Random seed: same seed, same data."),
    if_empty: bool = typer.Option(False, "--if-empty", help="Only when the database is empty."),
) -> None:
    """Load the synthetic demo data set (replaces the current content)."""
    from geoportal.demo.load import database_is_empty, load_demo

    settings = Settings()
    url = _admin_url(settings)
    if if_empty and not database_is_empty(url):
        console.print("database already has data: demo not loaded")
        return
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        summary = load_demo(url, parcels=parcels, seed=seed, raster_dir=settings.raster_dir,
                            progress=progress)
    console.print(f"demo loaded in {time.perf_counter() - started:.1f} s: {summary}")


@cli.command()
def layers() -> None:
    """List the published layers from the registry."""
    try:
        registry = load_registry(Settings().layers_dir)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    table = Table("id", "title", "table", "geometry", "queryables")
    for layer in registry:
        table.add_row(layer.id, layer.title, layer.table, layer.geometry_type or "—",
                      ", ".join(p.name for p in layer.queryables))
    console.print(table)


def _language() -> Language:
    """The terminal's language for messages: English when the locale says so, else French."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "en" if value.lower().startswith("en") else "fr"
    return "fr"


@cli.command("import")
def import_(
    layer: str = typer.Argument(..., help="Layer id from layers/ (e.g. parcels)."),
    file: Path = typer.Argument(..., help="Shapefile (.shp/.zip), GeoPackage, GeoJSON, FGB."),
    user: str | None = typer.Option(None, "--as", metavar="USER",
                                    help="Who imports (required): recorded in the history as "
                                         "import:USER."),
    comment: str | None = typer.Option(None, help="Why: kept with the change-set."),
    crs: str | None = typer.Option(None, help="CRS of the file when it has none or a wrong one."),
    encoding: str | None = typer.Option(None, help="Text encoding of the attributes."),
    mode: str = typer.Option("replace", help="replace the layer (features absent from the "
                             "file are deleted), or append (they are kept)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything, change nothing."),
    layer_name: str | None = typer.Option(None, help="Layer inside the file (GeoPackage)."),
    report: Path | None = typer.Option(None, help="Report file (CSV); default beside you."),
) -> None:
    """Import one of the agency's files into a layer, all or nothing, with its history."""
    from geoportal.ingest import ImportOptions, IngestError, import_file
    from geoportal.ingest.console import ImportProgress, summary_table
    from geoportal.ingest.importer import Mode

    language = _language()
    if mode not in ("replace", "append"):
        raise _fail(f"--mode must be replace or append, not {mode!r}")
    if user is None:
        raise _fail("--as USER est requis : qui importe ? Chaque entité changée est inscrite "
                    "à ce nom dans l'historique (import:USER)." if language == "fr" else
                    "--as USER is required: who is importing? Every feature changed is "
                    "recorded under that name in the history (import:USER).")
    chosen: Mode = "append" if mode == "append" else "replace"
    settings = Settings()
    report = report or Path(f"{file.stem}-{layer}-import-report.csv")
    options = ImportOptions(user=user, comment=comment, mode=chosen, crs=crs,
                            encoding=encoding, layer_name=layer_name, dry_run=dry_run,
                            report_path=report)
    try:
        registry = load_registry(settings.layers_dir)
        with ImportProgress(console) as progress:
            summary = import_file(_admin_url(settings), registry, layer, file, options,
                                  progress)
    except IngestError as exc:
        raise _fail(exc.text(language)) from exc
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    console.print(summary_table(summary))


@cli.command("pygeoapi-config")
def pygeoapi_config(
    check: bool = typer.Option(False, "--check", help="Fail if the file is not up to date."),
) -> None:
    """Write pygeoapi-config.yml from the layer registry (or check that it is current)."""
    from geoportal.catalogue import render_config

    settings = Settings()
    try:
        text = render_config(load_registry(settings.layers_dir))
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    path = settings.pygeoapi_config
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if check:
        if current != text:
            raise _fail(f"{path} is out of date: run `geoportal pygeoapi-config`")
        console.print(f"{path} matches the layer registry")
        return
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path}")


def _keys_url(settings: Settings) -> str:
    from geoportal.db.urls import libpq_url

    return libpq_url(_database_url(settings))


@keys_cli.command("create")
def keys_create(
    name: str = typer.Argument(..., help="Who or what the key is for (e.g. qgis-urbanisme)."),
    role: str = typer.Option(..., help="editor, instructeur, signataire or admin."),
    layer: list[str] | None = typer.Option(
        None, "--layer", help="For editors: a layer it may edit (repeat); default every layer."),
) -> None:
    """Create a key; it is printed once, alone on stdout (everything else goes to stderr)."""
    import psycopg

    from geoportal.core.auth_keys import KeyCommandError, check_grant, create_key

    settings = Settings()
    layers = layer or []
    try:
        check_grant(role, layers)
        known = {item.id for item in load_registry(settings.layers_dir)}
        unknown = sorted(set(layers) - known)
        if unknown:
            raise KeyCommandError(f"unknown layer(s) {', '.join(unknown)}: see `geoportal layers`")
        key, created = create_key(_keys_url(settings), name, role, layers)
    except (KeyCommandError, RegistryError) as exc:
        raise _fail(str(exc)) from exc
    except psycopg.Error as exc:
        raise _fail(f"database: {type(exc).__name__} (is it migrated? `geoportal migrate`)"
                    ) from exc
    scope = ", ".join(created.layers) if created.layers else "every layer"
    err.print(f"key [bold]{created.name}[/] ({created.prefix}…) created, role {created.role}"
              + (f", layers: {scope}" if created.role == "editor" else "")
              + ". It is shown once, below; only its hash is kept.")
    print(key)


@keys_cli.command("list")
def keys_list(
    all_: bool = typer.Option(False, "--all", help="Include revoked keys."),
) -> None:
    """List the keys: name, prefix, role, layers and dates (never the keys themselves)."""
    import psycopg

    from geoportal.core.auth_keys import list_keys

    try:
        keys = list_keys(_keys_url(Settings()), include_revoked=all_)
    except psycopg.Error as exc:
        raise _fail(f"database: {type(exc).__name__} (is it migrated? `geoportal migrate`)"
                    ) from exc

    def when(moment: object) -> str:
        return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "—"

    table = Table("name", "prefix", "role", "layers", "created", "last used", "revoked")
    for key in keys:
        layers = ", ".join(key.layers) if key.layers else ("all" if key.role == "editor" else "—")
        table.add_row(key.name, key.prefix, key.role, layers, when(key.created_at),
                      when(key.last_used_at), when(key.revoked_at))
    console.print(table)


@keys_cli.command("revoke")
def keys_revoke(
    name_or_prefix: str = typer.Argument(..., help="The key's name, or its prefix (gp_…)."),
) -> None:
    """Revoke a key: refused by every worker within GEOPORTAL_AUTH_CACHE_S seconds."""
    import psycopg

    from geoportal.core.auth_keys import KeyCommandError, revoke_key

    settings = Settings()
    try:
        revoked = revoke_key(_keys_url(settings), name_or_prefix)
    except KeyCommandError as exc:
        raise _fail(str(exc)) from exc
    except psycopg.Error as exc:
        raise _fail(f"database: {type(exc).__name__} (is it migrated? `geoportal migrate`)"
                    ) from exc
    console.print(f"key {revoked.name} ({revoked.prefix}…) revoked; refused within "
                  f"{settings.auth_cache_s:g} s")


@cli.command()
def worker() -> None:
    """Run the job queue's worker (mail, daily digest) until interrupted: beside services
    started with GEOPORTAL_WORKER_IN_SERVICE=false, or as well as theirs."""
    import asyncio

    from geoportal.jobs.queue import run_worker_process
    from geoportal.renseignement.tasks import JOBS

    settings = Settings()
    _database_url(settings)  # a clear error when no database is reachable or configured
    err.print("job worker running (mail, digest); Ctrl+C to stop")
    try:
        asyncio.run(run_worker_process(settings, JOBS))
    except KeyboardInterrupt:
        err.print("job worker stopped")


@renseignement_cli.command("digest")
def renseignement_digest() -> None:
    """Send the digest of overdue requests to GEOPORTAL_NRU_STAFF_EMAIL now."""
    import asyncio

    from geoportal.renseignement.digest import send_digest_now

    settings = Settings()
    if not settings.nru_staff_email:
        raise _fail("GEOPORTAL_NRU_STAFF_EMAIL is not set: no one to send the digest to")
    if not settings.smtp_host:
        raise _fail("GEOPORTAL_SMTP_HOST is not set: no server to send the digest through")
    try:
        count = asyncio.run(send_digest_now(settings))
    except OSError as exc:
        raise _fail(f"mail not sent: {type(exc).__name__} from "
                    f"{settings.smtp_host}:{settings.smtp_port}") from exc
    console.print(f"digest sent to {settings.nru_staff_email}: {count} overdue request(s)")


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1, max=64, help="uvicorn workers (per instance)."),
    reload: bool = typer.Option(False),
    proxy: bool = typer.Option(False, "--proxy", help="nginx on HOST:PORT (cache, retries) "
                               "in front of --instances uvicorn instances on loopback."),
    instances: int = typer.Option(2, min=1, max=32, help="Instances behind --proxy."),
) -> None:
    """Serve the geoportal with uvicorn (or several instances behind nginx: --proxy)."""
    import uvicorn

    from geoportal.ops.serving import APP, uvicorn_options

    settings = Settings()
    try:
        load_registry(settings.layers_dir)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    base = f"http://{host}:{port}"
    console.print(f"[bold]Géoportail[/] {base}/\n  OGC API Features  {base}/ogc\n"
                  f"  Rules            {base}/rules?lon=-7.6189&lat=33.5883\n"
                  f"  API docs         {base}/docs\n  Health           {base}/health")
    if proxy:
        from geoportal.ops.proxy import ProxiedService, ProxyError

        service = ProxiedService(settings.home.resolve(), host, port, instances, workers,
                                 settings.public_url, say=console.print)
        try:
            raise typer.Exit(code=service.run())
        except ProxyError as exc:
            raise _fail(str(exc)) from exc
    if workers > 1:  # the scrape lands on one worker: the metrics are summed over files
        from geoportal.ops.proxy import metrics_dir

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir(settings.home.resolve(),
                                                                 f"port-{port}"))
    uvicorn.run(APP, host=host, port=port, workers=workers, reload=reload, log_level="info",
                forwarded_allow_ips=settings.forwarded_allow_ips, **uvicorn_options())


@cli.command("proxy-config")
def proxy_config(
    upstream: list[str] = typer.Option(..., "--upstream", help="An instance, host:port "
                                       "(repeat), e.g. app1:8000."),
    listen: str = typer.Option("80", help="What nginx listens on."),
    prefix: Path = typer.Option(Path("/var/cache/nginx"),
                                help="Folder of nginx's temp files and cache."),
    server_name: str | None = typer.Option(None, help="The public host name."),
    out: Path | None = typer.Option(None, help="Write here instead of stdout."),
) -> None:
    """Render the nginx configuration for a production topology (e.g. docker-compose)."""
    from geoportal.ops.proxy import ProxyConfig, render_config

    text = render_config(ProxyConfig(listen=listen, upstreams=upstream, prefix=prefix,
                                     server_name=server_name, daemon=True,
                                     access_log="/dev/stdout", error_log="/dev/stderr"))
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        err.print(f"wrote {out}")


def main() -> None:
    """Entry point of the ``geoportal`` script."""
    cli()


if __name__ == "__main__":
    main()

