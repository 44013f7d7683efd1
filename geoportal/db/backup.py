"""Backups with point-in-time recovery of the private cluster, by pgBackRest.

WAL is archived continuously (``archive_command`` = ``pgbackrest archive-push``) into a
repository under the cluster's folder (``backup/repo``, or ``GEOPORTAL_BACKUP_REPO``); full
and incremental backups go to the same repository. A restore stops the server, restores the
latest backup taken before the target with ``--type=time --target=…`` (``--delta``: only
the files that differ are rewritten), replays the archived WAL up to the target, promotes,
and checks the server answers.

The server's settings live in a file of their own, ``geoportal-backup.conf``, included from
``postgresql.conf``: the rest of the cluster's set-up (roles, replicas) is not touched.
pgBackRest runs as the server's system user (``postgres`` under root) and connects as the
bootstrap superuser through the socket, with its password in a private pgpass file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg

from geoportal.db.cluster import DB_USER, Cluster
from geoportal.settings import Settings

STANZA = "geoportal"
INCLUDE_LINE = "include_if_exists = 'geoportal-backup.conf'  # geoportal: WAL archiving\n"
SETTINGS_FILE = "geoportal-backup.conf"
AGENCY_TZ = ZoneInfo("Africa/Casablanca")
PROMOTE_TIMEOUT_S = 300.0


class BackupError(RuntimeError):
    """A backup or restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSet:
    """One backup in the repository."""

    label: str
    kind: str  # full, diff, incr
    started: datetime
    stopped: datetime
    size_bytes: int


def parse_target(text: str) -> datetime:
    """A restore target: ISO 8601 with an offset, or local time at the agency (Casablanca)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise BackupError(f"--to {text!r}: expected a time such as "
                          "'2026-12-07 14:03:00+01' (ISO 8601)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=AGENCY_TZ)
    if moment > datetime.now(UTC):
        raise BackupError(f"--to {text}: that moment has not happened yet")
    return moment


class Backups:
    """pgBackRest for one private cluster (see the module docstring)."""

    def __init__(self, settings: Settings, cluster: Cluster | None = None) -> None:
        self.cluster = cluster or Cluster(settings)
        self.folder = self.cluster.server_dir / "backup"
        self.repo = (settings.backup_repo or self.folder / "repo").resolve()
        self.config = self.folder / "pgbackrest.conf"
        self.pgpass = self.folder / "pgpass"
        self.retention_full = settings.backup_retention_full

    # -- set-up -----------------------------------------------------------------------------
    def _pgbackrest(self) -> str:
        found = shutil.which("pgbackrest")
        if found:
            return found
        if os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                            "pgbackrest"], check=False, env=env, stdout=subprocess.DEVNULL)
            found = shutil.which("pgbackrest")
            if found:
                return found
        raise BackupError("pgBackRest is not installed: sudo apt-get install pgbackrest")

    def _write_files(self) -> None:
        """pgbackrest.conf, the pgpass file and the repository folders, the server's own."""
        cluster = self.cluster
        for folder in (self.folder, self.repo, self.folder / "log", self.folder / "lock",
                       self.folder / "spool"):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            cluster.give_to_server(folder)
        self.config.write_text(
            "[global]\n"
            f"repo1-path={self.repo}\n"
            f"repo1-retention-full={self.retention_full}\n"
            "compress-type=zst\n"
            "start-fast=y\n"
            f"log-path={self.folder / 'log'}\n"
            f"lock-path={self.folder / 'lock'}\n"
            f"spool-path={self.folder / 'spool'}\n"
            "log-level-console=info\n"
            "log-level-file=detail\n"
            "\n"
            f"[{STANZA}]\n"
            f"pg1-path={cluster.pgdata}\n"
            f"pg1-port={cluster.server_port()}\n"
            f"pg1-socket-path={cluster.socket_dir}\n"
            f"pg1-user={DB_USER}\n")
        self.pgpass.write_text(f"*:*:*:{DB_USER}:{cluster.superuser_password()}\n")
        for path in (self.config, self.pgpass):
            os.chmod(path, 0o600)
            cluster.give_to_server(path)

    def _settings_text(self) -> str:
        command = (f"{self._pgbackrest()} --config={self.config} --stanza={STANZA} "
                   "archive-push %p")
        return ("# written by geoportal.db.backup: continuous WAL archiving to pgBackRest\n"
                "archive_mode = on\n"
                f"archive_command = '{command}'\n"
                "archive_timeout = 60\n"  # a quiet database still archives every minute
                "wal_level = replica\n")

    def archiving_configured(self) -> bool:
        """Whether the server's settings file asks for archiving to this repository."""
        path = self.cluster.pgdata / SETTINGS_FILE
        return path.exists() and str(self.config) in path.read_text()

    def enable(self, say: Callable[[str], None] = print) -> None:
        """Archive WAL from now on: settings file, restart if needed, stanza created."""
        self._write_files()
        cluster = self.cluster
        conf = cluster.pgdata / "postgresql.conf"
        if INCLUDE_LINE not in conf.read_text():
            with conf.open("a") as f:
                f.write(INCLUDE_LINE)
        settings_path = cluster.pgdata / SETTINGS_FILE
        wanted = self._settings_text()
        changed = not settings_path.exists() or settings_path.read_text() != wanted
        if changed:
            settings_path.write_text(wanted)
            cluster.give_to_server(settings_path)
        if cluster.is_running() and (changed or not self._archiving_live()):
            say("restarting PostgreSQL to turn WAL archiving on")
            cluster.stop()
        cluster.start_server()
        self._run("stanza-create", say=say)

    def _archiving_live(self) -> bool:
        with psycopg.connect(self.cluster.superuser_url(), connect_timeout=5) as conn:
            row = conn.execute("SELECT current_setting('archive_mode')").fetchone()
        return row is not None and row[0] == "on"

    # -- commands ---------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSFILE": str(self.pgpass)}

    def _run(self, command: str, *options: str, say: Callable[[str], None] = print
             ) -> subprocess.CompletedProcess[str]:
        args = [self._pgbackrest(), f"--config={self.config}", f"--stanza={STANZA}", *options,
                command]
        result = self.cluster.run_as_server(args, env=self._env(), check=False)
        for line in result.stdout.splitlines():
            if " command begin " in line:  # the whole option list: in the log file only
                continue
            if " INFO: " in line or " WARN: " in line:
                say(line.split(": ", 1)[-1] if " INFO: " in line else line)
        if result.returncode != 0:
            detail = "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                               if "ERROR" in line or "WARN" in line) or result.stderr
            raise BackupError(f"pgbackrest {command} failed ({result.returncode}):\n{detail}\n"
                              f"(log: {self.folder / 'log'})")
        return result

    def backup(self, kind: str = "full", say: Callable[[str], None] = print) -> BackupSet:
        """A full or incremental backup (archiving is turned on first if it was off)."""
        if kind not in ("full", "incr", "diff"):
            raise BackupError(f"--type must be full, incr or diff, not {kind!r}")
        if not self.cluster.is_running():
            raise BackupError("the private cluster is not running: geoportal db start")
        if not self.archiving_configured() or not self._archiving_live():
            self.enable(say)
        self._run("backup", f"--type={kind}", say=say)
        latest = self.list()[-1]
        return latest

    def list(self) -> list[BackupSet]:
        """The backups of the repository, oldest first."""
        if not self.config.exists():
            return []
        result = self._run("info", "--output=json", say=lambda _line: None)
        stanzas = json.loads(result.stdout or "[]")
        sets = []
        for stanza in stanzas:
            for item in stanza.get("backup", []):
                stamp = item["timestamp"]
                sets.append(BackupSet(item["label"], item["type"],
                                      datetime.fromtimestamp(stamp["start"], UTC),
                                      datetime.fromtimestamp(stamp["stop"], UTC),
                                      int(item.get("info", {}).get("size", 0))))
        return sorted(sets, key=lambda s: s.stopped)

    def restore(self, target: datetime, say: Callable[[str], None] = print) -> BackupSet:
        """Stop, restore the last backup before ``target``, replay WAL up to it, promote."""
        sets = [s for s in self.list() if s.stopped <= target]
        if not sets:
            first = self.list()
            raise BackupError(
                f"no backup ended before {target.isoformat()}"
                + (f": the oldest ended at {first[0].stopped.isoformat()}" if first else
                   ": the repository has none (geoportal db backup)"))
        chosen = sets[-1]
        cluster = self.cluster
        self._write_files()  # the port or the password may have changed since
        if cluster.is_running():
            say("archiving the current WAL (so the restore can replay up to the target)")
            self._run("check", say=say)
            say("stopping PostgreSQL")
            cluster.stop()
        say(f"restoring backup {chosen.label} ({chosen.kind}, ended "
            f"{chosen.stopped.isoformat(timespec='seconds')}) and replaying WAL up to "
            f"{target.isoformat()}")
        cluster.pgdata.mkdir(mode=0o700, exist_ok=True)  # a lost disk: restored from nothing
        cluster.give_to_server(cluster.pgdata)
        self._run("restore", "--delta", "--type=time", f"--target={_pg_time(target)}",
                  "--target-action=promote", f"--set={chosen.label}", say=say)
        say("starting PostgreSQL (recovery, then promotion)")
        cluster.start_server()
        self._wait_promoted()
        say(f"restored to {target.isoformat()}; the database is writable again")
        return chosen

    def _wait_promoted(self) -> None:
        deadline = time.monotonic() + PROMOTE_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.cluster.superuser_url(), connect_timeout=5) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and not row[0]:
                    return
            except psycopg.OperationalError:
                pass
            time.sleep(0.5)
        raise BackupError(f"the server did not finish its recovery in {PROMOTE_TIMEOUT_S:.0f} s:"
                          f" see {self.cluster.logfile}")


def _pg_time(moment: datetime) -> str:
    """A timestamp PostgreSQL's recovery_target_time reads unambiguously (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
