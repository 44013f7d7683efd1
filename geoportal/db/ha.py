"""A private highly available topology: pg_auto_failover's monitor, a primary and a standby.

``geoportal db start --ha`` builds it beside the private cluster (same state folder, as the
``postgres`` system user when root, loopback ports of its own) for development and tests.
The engine is Debian's ``postgresql-15-auto-failover`` (installed with apt-get when missing
and root): the monitor watches both nodes, and when the primary stops answering it promotes
the standby. Replication is synchronous (pg_auto_failover's default with one standby:
``synchronous_standby_names = 'ANY 1 (...)'``, and the service's roles commit with
``synchronous_commit = on``), so an acknowledged edit is on both nodes.

The service finds the primary by itself: its URLs name both nodes
(``target_session_attrs=read-write`` for writes, ``prefer-standby`` for the read replica),
and the pools reconnect through their ConnectGate after a failover.

The monitor's health checks are tightened (geoportal/db/sql/ha-monitor.sql) so a failover
completes in seconds rather than pg_auto_failover's default of about a minute, and the keepers'
network-partition timeout is kept below the monitor's demote timeout (ha-keeper.conf) so an
isolated primary steps down before its standby is promoted. pg_auto_failover's own roles
(monitor, replication) are trusted on loopback only; every other connection needs a password.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from geoportal.db.cluster import (
    APP_ROLE,
    DATABASE_SQL,
    DB_NAME,
    OWNER_ROLE,
    ROLES_SQL,
    SCHEMA_SQL,
    SETUP_SQL,
    WRITER_ROLE,
    Cluster,
    ClusterError,
    PgInstall,
    _free_port,
    find_postgres_with_postgis,
    run_setup_script,
    setup_sql,
)
from geoportal.settings import Settings

NODES = ("node1", "node2")
MONITOR = "monitor"
START_TIMEOUT_S = 120.0
# Failure detection and promotion within seconds (pg_auto_failover's defaults: about a minute),
# split brain kept out: geoportal/db/sql/ha-monitor.sql and ha-keeper.conf, the same files the
# production images run (deploy/pg_auto_failover).
MONITOR_SQL = setup_sql("ha-monitor.sql")
KEEPER_CONF = (SETUP_SQL / "ha-keeper.conf").read_text()
PRIMARY_STATES = ("primary", "wait_primary", "single")
# initdb's catch-all rules, trusted as pg_autoctl has initdb write them: dropped, and password
# (or peer) rules appended after pg_auto_failover's own (the first matching rule wins)
_TRUSTED_DEFAULTS = re.compile(
    r"^(?:local|host)\s+(?:all|replication|\"geoportal\")\s+(?:all|\"postgres\")\s+"
    r"(?:\S+/\d+\s+)?trust\b.*$", re.MULTILINE)
_GUARDED = ("\n# geoportal: every other connection needs a password (or is its own OS user)\n"
            "local   all   all                  peer\n"
            "host    all   all   127.0.0.1/32   scram-sha-256\n"
            "host    all   all   ::1/128        scram-sha-256\n")


@dataclass(frozen=True)
class NodeState:
    """One node as the monitor sees it."""

    name: str
    port: int
    reported: str
    assigned: str

    @property
    def is_primary(self) -> bool:
        return self.reported in PRIMARY_STATES and self.assigned in PRIMARY_STATES


class HaCluster:
    """The monitor and two nodes under ``<server folder>/ha``: start, stop, status, URLs."""

    def __init__(self, settings: Settings) -> None:
        cluster = Cluster(settings)
        self.home = cluster.home
        self.base = cluster.pgdata.parent / "ha"
        self.state_file = self.home / "ha.json"
        self._owner = "postgres" if os.geteuid() == 0 else None

    # -- state and URLs ---------------------------------------------------------------------
    def exists(self) -> bool:
        return self.state_file.exists()

    def _state(self) -> dict[str, object]:
        if not self.state_file.exists():
            raise ClusterError("No HA topology here: run `geoportal db start --ha`.")
        state: dict[str, object] = json.loads(self.state_file.read_text())
        return state

    def _save(self, state: dict[str, object]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state))
        os.chmod(self.state_file, 0o600)

    def ports(self) -> dict[str, int]:
        """The loopback port of the monitor and of each node."""
        ports = self._state()["ports"]
        assert isinstance(ports, dict)
        return {name: int(port) for name, port in ports.items()}

    def _url(self, role: str, password_key: str, attrs: str) -> str:
        state = self._state()
        ports = self.ports()
        hosts = ",".join(f"127.0.0.1:{ports[name]}" for name in NODES)
        return (f"postgresql://{role}:{state[password_key]}@{hosts}/{DB_NAME}"
                f"?target_session_attrs={attrs}")

    def url(self) -> str:
        """The service's read role on whichever node is the primary."""
        return self._url(APP_ROLE, "app_password", "read-write")

    def writer_url(self) -> str:
        """The role edits are written with, on whichever node is the primary."""
        return self._url(WRITER_ROLE, "writer_password", "read-write")

    def admin_url(self) -> str:
        """The schema owner on the primary: migrate, import, demo."""
        return self._url(OWNER_ROLE, "owner_password", "read-write")

    def replica_url(self) -> str:
        """The service's read role on the standby (on the primary while there is none)."""
        return self._url(APP_ROLE, "app_password", "prefer-standby")

    def node_url(self, name: str) -> str:
        """The read role on one node exactly (tests, status)."""
        state = self._state()
        return (f"postgresql://{APP_ROLE}:{state['app_password']}@127.0.0.1:"
                f"{self.ports()[name]}/{DB_NAME}")

    def monitor_url(self) -> str:
        return f"postgresql://autoctl_node@127.0.0.1:{self.ports()[MONITOR]}/pg_auto_failover"

    def environment(self) -> dict[str, str]:
        """The settings that point the service at this topology."""
        return {"GEOPORTAL_DATABASE_URL": self.url(),
                "GEOPORTAL_WRITE_DATABASE_URL": self.writer_url(),
                "GEOPORTAL_ADMIN_DATABASE_URL": self.admin_url(),
                "GEOPORTAL_REPLICA_URLS": self.replica_url()}

    # -- processes --------------------------------------------------------------------------
    def _pgdata(self, name: str) -> Path:
        return self.base / name

    def _env(self) -> dict[str, str]:
        xdg = self.base / "xdg"
        return {"XDG_CONFIG_HOME": str(xdg / "config"), "XDG_DATA_HOME": str(xdg / "data"),
                "XDG_RUNTIME_DIR": str(xdg / "run"), "PATH": os.environ.get("PATH", "")}

    def _command(self, args: list[str]) -> list[str]:
        env = [f"{key}={value}" for key, value in self._env().items()]
        prefix = ["runuser", "-u", self._owner, "--"] if self._owner else []
        return [*prefix, "env", *env, *args]

    def _autoctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self._command(["pg_autoctl", *args]), capture_output=True,
                                text=True, cwd="/", check=False)
        if check and result.returncode != 0:
            raise ClusterError(f"pg_autoctl {args[0]} {args[1] if len(args) > 1 else ''} "
                               f"failed:\n{result.stderr[-3000:]}")
        return result

    def _run(self, name: str) -> None:
        """Start ``pg_autoctl run`` for one node (or the monitor), in a session of its own."""
        if self.is_running(name):
            return
        log = self.base / "log" / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                self._command(["pg_autoctl", "run", "--pgdata", str(self._pgdata(name))]),
                stdout=out, stderr=subprocess.STDOUT, cwd="/", start_new_session=True)
        state = self._state()
        sessions = dict(state.get("sessions", {}))  # type: ignore[call-overload]
        sessions[name] = process.pid
        state["sessions"] = sessions
        self._save(state)

    def _session(self, name: str) -> int | None:
        sessions = self._state().get("sessions", {})
        assert isinstance(sessions, dict)
        pid = sessions.get(name)
        return int(pid) if pid else None

    def is_running(self, name: str) -> bool:
        """Whether the node's pg_autoctl session still has a live process."""
        pgid = self._session(name)
        return pgid is not None and _group_alive(pgid)

    def kill(self, name: str) -> None:
        """SIGKILL a node's whole session (pg_autoctl and its PostgreSQL): a lost server.

        Every process of the server dies at once — the postmaster and each of its children
        (backends, WAL sender): a backend outliving its postmaster for a moment could still
        acknowledge a commit, which a lost machine never does. The postmaster is stopped
        first, so it forks nothing while its children are listed."""
        pgid = self._session(name)
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        try:
            postmaster = int((self._pgdata(name) / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGSTOP)
        except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            return
        for pid in (*_children(postmaster), postmaster):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def keeper_setting(self, name: str, key: str) -> str:
        """One setting of a node's keeper, as ``pg_autoctl config get`` reads it."""
        return self._autoctl("config", "get", "--pgdata", str(self._pgdata(name)),
                             key).stdout.strip()

    def restart(self, name: str) -> None:
        """Start a killed node again: pg_autoctl rejoins it (as the standby after a failover)."""
        self._run(name)

    # -- topology ---------------------------------------------------------------------------
    def nodes(self) -> list[NodeState]:
        """What the monitor knows of the nodes (empty when it does not answer)."""
        try:
            with psycopg.connect(self.monitor_url(), connect_timeout=2) as conn:
                rows = conn.execute(
                    "SELECT nodename, nodeport, reportedstate::text, goalstate::text "
                    "FROM pgautofailover.node ORDER BY nodeid").fetchall()
        except psycopg.Error:
            return []
        return [NodeState(str(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def primary(self) -> str | None:
        """The name of the node that is primary now, per the monitor."""
        return next((node.name for node in self.nodes() if node.is_primary), None)

    def wait_until_healthy(self, timeout_s: float = START_TIMEOUT_S) -> NodeState:
        """Wait for a primary and a synchronous standby both settled; the primary."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            nodes = self.nodes()
            primary = [n for n in nodes if n.reported == n.assigned == "primary"]
            standby = [n for n in nodes if n.reported == n.assigned == "secondary"]
            if primary and standby:
                return primary[0]
            time.sleep(0.25)
        raise ClusterError(f"the HA topology did not settle in {timeout_s:.0f} s: "
                           f"{self.nodes()}; logs in {self.base / 'log'}")

    def status(self) -> str:
        """The monitor's view: each node, its role and state."""
        if not self.exists():
            return "no HA topology (`geoportal db start --ha`)"
        nodes = self.nodes()
        if not nodes:
            return f"HA monitor not answering on 127.0.0.1:{self.ports()[MONITOR]}"
        lines = [f"HA monitor on 127.0.0.1:{self.ports()[MONITOR]} (pg_auto_failover)"]
        for node in nodes:
            role = "primary" if node.is_primary else "standby"
            lines.append(f"  {node.name} on 127.0.0.1:{node.port}: {role} "
                         f"({node.reported}, assigned {node.assigned})")
        return "\n".join(lines)

    # -- start and stop ---------------------------------------------------------------------
    def start(self, install: bool = True) -> str:
        """Build once, then start the monitor and both nodes; the service's URL."""
        pg = _autofailover_install(install)
        if not self.exists():
            self._save({"ports": {name: _free_port() for name in (MONITOR, *NODES)},
                        **{key: secrets.token_urlsafe(18) for key in
                           ("password", "owner_password", "app_password",
                            "writer_password")}})
        for folder in (self.base, self.base / "log", self.base / "xdg" / "config",
                       self.base / "xdg" / "data", self.base / "xdg" / "run"):
            folder.mkdir(parents=True, exist_ok=True)
            self._chown(folder)
        os.chmod(self.base / "xdg" / "run", 0o700)
        self._start_monitor(pg)
        for name in NODES:
            self._start_node(pg, name)
        primary = self.wait_until_healthy()
        state = self._state()
        if not state.get("set_up"):
            self._set_up(pg, primary.port)
            state["set_up"] = True
            self._save(state)
        return self.url()

    def _chown(self, path: Path) -> None:
        if self._owner:
            entry = pwd.getpwnam(self._owner)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _start_monitor(self, pg: PgInstall) -> None:
        pgdata = self._pgdata(MONITOR)
        if not (pgdata / "PG_VERSION").exists():
            self._autoctl("create", "monitor", "--pgdata", str(pgdata),
                          "--pgctl", str(pg.bindir / "pg_ctl"),
                          "--pgport", str(self.ports()[MONITOR]), "--hostname", "127.0.0.1",
                          "--auth", "trust", "--no-ssl")
            self._autoctl("config", "set", "--pgdata", str(pgdata),
                          "postgresql.listen_addresses", "127.0.0.1")
        self._run(MONITOR)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.monitor_url(), connect_timeout=2,
                                     autocommit=True) as conn:
                    conn.execute("SELECT 1 FROM pgautofailover.node LIMIT 1")
                break
            except psycopg.Error as exc:
                if time.monotonic() > deadline:
                    raise ClusterError(f"the HA monitor did not start: {exc}") from exc
                time.sleep(0.25)
        self._superuser_sql(pg, self.ports()[MONITOR], "pg_auto_failover", MONITOR_SQL)

    def _start_node(self, pg: PgInstall, name: str) -> None:
        pgdata = self._pgdata(name)
        if not (pgdata / "PG_VERSION").exists():
            monitor = f"{self.monitor_url()}?sslmode=disable"
            self._autoctl("create", "postgres", "--pgdata", str(pgdata),
                          "--pgctl", str(pg.bindir / "pg_ctl"),
                          "--pgport", str(self.ports()[name]), "--listen", "127.0.0.1",
                          "--hostname", "127.0.0.1", "--name", name, "--dbname", DB_NAME,
                          "--auth", "trust", "--no-ssl", "--monitor", monitor)
            with (pgdata / "postgresql.conf").open("a") as conf:
                conf.write("\n# geoportal HA node\nmax_connections = 200\n"
                           "shared_buffers = 256MB\nwork_mem = 32MB\njit = off\n"
                           "random_page_cost = 1.1\nhot_standby_feedback = on\n")
        for key, value in keeper_settings().items():  # at every start: an older node too
            self._autoctl("config", "set", "--pgdata", str(pgdata), key, value)
        self._run(name)
        if name == NODES[0]:  # the first node must be the primary before a standby joins
            deadline = time.monotonic() + START_TIMEOUT_S
            while not any(n.name == name and n.is_primary for n in self.nodes()):
                if time.monotonic() > deadline:
                    raise ClusterError(f"{name} did not become primary; see "
                                       f"{self.base / 'log' / name}.log")
                time.sleep(0.25)

    def _superuser_sql(self, pg: PgInstall, port: int, database: str, script: str) -> None:
        """A script as the ``postgres`` superuser over the local socket (peer or trust)."""
        socket_dir = "/var/run/postgresql"
        result = subprocess.run(
            self._command([str(pg.bindir / "psql"), "-h", socket_dir, "-p", str(port),
                           "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                           "-qAt", "-f", "-"]),
            input=script, capture_output=True, text=True, cwd="/", check=False)
        if result.returncode != 0:
            raise ClusterError(f"SQL on port {port} failed:\n{result.stderr}")

    def _set_up(self, pg: PgInstall, primary_port: int) -> None:
        """The project's roles, schema rights and PostGIS on the primary (replicated to the
        standby), then passwords for every connection but pg_auto_failover's own."""
        state = self._state()
        password = str(state["password"])
        self._superuser_sql(pg, primary_port, "postgres",
                            f"ALTER ROLE postgres PASSWORD '{password}';\n")
        passwords = {key: value for key, value in state.items()
                     if isinstance(value, str | int)}
        run_setup_script(pg, primary_port, "postgres", password, "postgres", ROLES_SQL,
                         passwords)
        for database in ("template1", DB_NAME):
            run_setup_script(pg, primary_port, "postgres", password, database, SCHEMA_SQL,
                             passwords)
        run_setup_script(pg, primary_port, "postgres", password, DB_NAME, DATABASE_SQL,
                         passwords)
        for name in (MONITOR, *NODES):
            hba = self._pgdata(name) / "pg_hba.conf"
            hba.write_text(_TRUSTED_DEFAULTS.sub("", hba.read_text()) + _GUARDED)
            database = "pg_auto_failover" if name == MONITOR else "postgres"
            self._superuser_sql(pg, self.ports()[name], database, "SELECT pg_reload_conf();")

    def stop(self) -> None:
        """Stop both nodes, then the monitor (each waits for its PostgreSQL to stop)."""
        if not self.exists():
            return
        for name in (*NODES, MONITOR):
            if self.is_running(name):
                self._autoctl("stop", "--pgdata", str(self._pgdata(name)), check=False)
        deadline = time.monotonic() + 60
        for name in (*NODES, MONITOR):
            while self.is_running(name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.is_running(name):
                self.kill(name)


def monitor_settings() -> dict[str, str]:
    """The monitor's settings that ha-monitor.sql sets (name → value)."""
    return dict(re.findall(r"^ALTER SYSTEM SET (\S+) = (\S+);$", MONITOR_SQL, re.MULTILINE))


def keeper_settings() -> dict[str, str]:
    """The keepers' settings of ha-keeper.conf (``pg_autoctl config`` key → value)."""
    settings: dict[str, str] = {}
    for line in KEEPER_CONF.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split(None, 1)
            settings[key] = value.strip()
    return settings


def _children(parent: int) -> list[int]:
    """The processes whose parent is ``parent``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _group_alive(pgid: int) -> bool:
    """Whether a process group has a process that is not a zombie (a killed session started
    by this very process stays as a zombie until reaped)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _autofailover_install(install: bool) -> PgInstall:
    """PostgreSQL with PostGIS and pg_auto_failover, installed with apt-get when missing."""
    pg = find_postgres_with_postgis()
    if pg is None:
        raise ClusterError("PostgreSQL with PostGIS is not installed: run `geoportal db start`"
                           " once (it installs them) or install postgresql-15-postgis-3.")
    extension = Path(f"/usr/share/postgresql/{pg.version}/extension/pgautofailover.control")
    if extension.exists() and shutil.which("pg_autoctl"):
        return pg
    packages = [f"postgresql-{pg.version}-auto-failover", "pg-auto-failover-cli"]
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ClusterError("pg_auto_failover is not installed. Install it with\n"
                           f"  sudo apt-get install {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
                   check=True, env=env)
    return pg
