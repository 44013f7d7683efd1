"""A private PostgreSQL + PostGIS cluster under the project's state folder.

Its own port and socket folder, data kept between runs, never a system cluster. ``initdb``
refuses to run as root, so as root the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from geoportal.settings import Settings

DB_NAME = "geoportal"
DB_USER = "geoportal"  # the bootstrap superuser: cluster set-up and extensions only
OWNER_ROLE = "geoportal_owner"  # owns the schema: migrate, import, demo
APP_ROLE = "geoportal_app"  # the web service: reads the published tables, owns nothing
WRITER_ROLE = "geoportal_writer"  # the service's edits: writes the editable layers (0004)
PG_LIB = Path("/usr/lib/postgresql")


class ClusterError(RuntimeError):
    """The private cluster cannot be set up; the message says what to do."""


@dataclass(frozen=True)
class PgInstall:
    """One installed PostgreSQL major version with PostGIS."""

    version: int
    bindir: Path


def find_postgres_with_postgis() -> PgInstall | None:
    """The newest installed PostgreSQL whose PostGIS extension is installed too."""
    if not PG_LIB.is_dir():
        return None
    found = []
    for bindir in PG_LIB.glob("*/bin"):
        version = bindir.parent.name
        control = Path(f"/usr/share/postgresql/{version}/extension/postgis.control")
        if version.isdigit() and (bindir / "pg_ctl").exists() and control.exists():
            found.append(PgInstall(int(version), bindir))
    return max(found, key=lambda p: p.version) if found else None


def install_packages(echo: bool = True) -> None:
    """Install PostgreSQL and PostGIS with apt-get (root only), or say what to install."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ClusterError(
            "PostgreSQL with PostGIS is not installed. Install it with\n"
            "  sudo apt-get install postgresql postgresql-15-postgis-3\n"
            "(any PostgreSQL major version with its postgis-3 package), or run "
            "`docker compose up -d db` and set GEOPORTAL_DATABASE_URL."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    out = None if echo else subprocess.DEVNULL
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=out)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
        check=True, env=env, stdout=out,
    )
    versions = sorted(int(p.name) for p in PG_LIB.iterdir() if p.name.isdigit())
    if not versions:
        raise ClusterError("apt-get installed postgresql but no server version was found")
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends",
         f"postgresql-{versions[-1]}-postgis-3"],
        check=True, env=env, stdout=out,
    )


class Cluster:
    """The private cluster: start, stop, status and URL."""

    def __init__(self, settings: Settings) -> None:
        self.home = settings.home.resolve()
        self.port = settings.db_port
        self.port_chosen = "db_port" in settings.model_fields_set  # GEOPORTAL_DB_PORT given
        self.state_file = self.home / "db.json"
        server_dir = self._server_dir()
        self.pgdata = server_dir / "pgdata"
        self.socket_dir = server_dir / "run"
        self.logfile = server_dir / "log" / "postgres.log"

    def _server_dir(self) -> Path:
        """Where the server's files live: the state folder, unless its owner cannot reach it.

        As root the server runs as ``postgres``, which cannot enter a checkout under a
        private folder such as /root; then the files go to a folder of their own under
        /var/lib/geoportal, named after the checkout so that checkouts never share one.
        """
        if self._owner() is None or _reachable_by("postgres", self.home.parent):
            return self.home
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        return Path("/var/lib/geoportal") / digest

    # -- state ------------------------------------------------------------------------------
    def _state(self) -> dict[str, str | int]:
        if not self.state_file.exists():
            raise ClusterError(
                "No database configured: set GEOPORTAL_DATABASE_URL or run `geoportal db start`."
            )
        state: dict[str, str | int] = json.loads(self.state_file.read_text())
        return state

    def _role_url(self, role: str, password_key: str) -> str:
        state = self._state()
        if password_key not in state:  # a cluster of an earlier version: `db start` adds roles
            role, password_key = DB_USER, "password"
        return (
            f"postgresql://{role}:{state[password_key]}@127.0.0.1:{state['port']}/{DB_NAME}"
        )

    def url(self) -> str:
        """The web service's URL (TCP on loopback, password from the state file)."""
        return self._role_url(APP_ROLE, "app_password")

    def writer_url(self) -> str:
        """The URL of the role the service writes edits with (editable layers only)."""
        return self._role_url(WRITER_ROLE, "writer_password")

    def admin_url(self) -> str:
        """The URL of the role owning the schema, for migrations, imports and the demo."""
        return self._role_url(OWNER_ROLE, "owner_password")

    def superuser_url(self) -> str:
        """The bootstrap superuser's URL (cluster set-up only)."""
        return self._role_url(DB_USER, "password")

    # -- process ----------------------------------------------------------------------------
    def _owner(self) -> str | None:
        """The system user that owns the cluster when we run as root."""
        return "postgres" if os.geteuid() == 0 else None

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        owner = self._owner()
        cmd = ["runuser", "-u", owner, "--", *args] if owner else args
        return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd="/")

    def _chown(self, path: Path) -> None:
        owner = self._owner()
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg_ctl_running(self, pgdata: Path) -> bool:
        pg = find_postgres_with_postgis()
        if pg is None or not (pgdata / "PG_VERSION").exists():
            return False
        return self._run([str(pg.bindir / "pg_ctl"), "status", "-D", str(pgdata)],
                         check=False).returncode == 0

    def is_running(self) -> bool:
        return self._pg_ctl_running(self.pgdata)

    def status(self) -> str:
        """One line saying where the cluster is and whether it runs."""
        if not (self.pgdata / "PG_VERSION").exists():
            return f"not initialised ({self.pgdata})"
        state = "running" if self.is_running() else "stopped"
        lines = [f"primary {state}: {self.pgdata} on 127.0.0.1:{self._state()['port']}"]
        for replica in self._replicas():
            pgdata = self._replica_pgdata(replica)
            running = ("running (streaming from the primary)"
                       if self._pg_ctl_running(pgdata) else "stopped")
            lines.append(f"replica {running}: {pgdata} on 127.0.0.1:{replica}")
        return "\n".join(lines)

    # -- streaming replicas (`db start --replicas N`) --------------------------------------
    def _replicas(self) -> list[int]:
        """The replicas' ports, in the order they were made."""
        if not self.state_file.exists():
            return []
        return [int(port) for port in json.loads(self.state_file.read_text()).get("replicas", [])]

    def _replica_pgdata(self, port: int) -> Path:
        return self.pgdata.parent / f"replica-{port}" / "pgdata"

    def replica_urls(self) -> list[str]:
        """The service's role on each replica (the roles and passwords are replicated)."""
        state = self._state()
        return [f"postgresql://{APP_ROLE}:{state['app_password']}@127.0.0.1:{port}/{DB_NAME}"
                for port in self._replicas()]

    def start_replicas(self, count: int) -> list[str]:
        """Make (by ``pg_basebackup``) and start streaming replicas up to ``count``; their URLs.

        Each has its own folder beside the primary's, its own loopback port and a replication
        slot on the primary (so it never misses WAL); asynchronous: a replica down never
        blocks an edit, and the service's readers wait for their own writes
        (``db.routing``).
        """
        pg = find_postgres_with_postgis()
        if pg is None or not self.is_running():
            raise ClusterError("the primary does not run: `geoportal db start` first")
        state = self._state()
        ports = self._replicas()
        while len(ports) < count:
            ports.append(self._make_replica(pg, len(ports) + 1, _free_port()))
            state["replicas"] = ports  # type: ignore[assignment]
            self.state_file.write_text(json.dumps(state))
        for port in ports:
            self._start_replica(pg, port)
        return self.replica_urls()

    def _make_replica(self, pg: PgInstall, number: int, port: int) -> int:
        pgdata = self._replica_pgdata(port)
        for folder in (pgdata.parent, pgdata.parent / "run", pgdata.parent / "log"):
            folder.mkdir(parents=True, exist_ok=True)
            self._chown(folder)
        env = {**os.environ, "PGPASSWORD": str(self._state()["password"])}
        owner = self._owner()
        primary_port = str(self._state()["port"])
        cmd = [str(pg.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", primary_port,
               "-U", DB_USER, "-D", str(pgdata), "-R", "-X", "stream", "-c", "fast",
               "-C", "-S", f"geoportal_replica_{port}"]
        if owner:
            cmd = ["runuser", "-u", owner, "--", "env", f"PGPASSWORD={env['PGPASSWORD']}", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/",
                                check=False)
        if result.returncode != 0:
            raise ClusterError(f"pg_basebackup of replica {number} failed:\n{result.stderr}")
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# geoportal replica {number}\nport = {port}\n"
                       f"unix_socket_directories = '{pgdata.parent / 'run'}'\n"
                       "hot_standby = on\nhot_standby_feedback = on\n")
        return port

    def _start_replica(self, pg: PgInstall, port: int) -> None:
        pgdata = self._replica_pgdata(port)
        if self._pg_ctl_running(pgdata):
            return
        log_file = pgdata.parent / "log" / "postgres.log"
        result = self._run([str(pg.bindir / "pg_ctl"), "start", "-D", str(pgdata), "-w",
                            "-t", "60", "-l", str(log_file)], check=False)
        if result.returncode != 0:
            tail = log_file.read_text()[-2000:] if log_file.exists() else result.stderr
            raise ClusterError(f"the replica on port {port} did not start:\n{tail}")

    def start(self, install: bool = True) -> str:
        """Install if needed, initialise once, start, and create the database; return its URL."""
        pg = find_postgres_with_postgis()
        if pg is None:
            if not install:
                raise ClusterError("PostgreSQL with PostGIS is not installed")
            install_packages()
            pg = find_postgres_with_postgis()
            if pg is None:
                raise ClusterError("PostGIS was installed but its extension files are missing")
        self._init(pg)
        if not self.is_running():
            self._start(pg)
        else:
            self.port = int(self._state()["port"])
        self._ensure_passwords()
        self._psql(pg, "postgres", ROLES_SQL)
        self._create_database(pg)
        for database in ("template1", DB_NAME):  # new databases inherit template1's set-up
            self._psql(pg, database, SCHEMA_SQL)
        self._psql(pg, DB_NAME, DATABASE_SQL)
        return self.url()

    def _ensure_passwords(self) -> None:
        """Passwords of the owner and service roles, added to an earlier version's state."""
        state = self._state()
        missing = [key for key in ("owner_password", "app_password", "writer_password")
                   if key not in state]
        if missing:
            state.update({key: secrets.token_urlsafe(18) for key in missing})
            self.state_file.write_text(json.dumps(state))
            os.chmod(self.state_file, 0o600)

    def _psql(self, pg: PgInstall, database: str, script: str) -> None:
        """Run a script as the bootstrap superuser; role names and passwords as variables."""
        state = self._state()
        run_setup_script(pg, self.port, DB_USER, str(state["password"]), database, script,
                         state)

    def _init(self, pg: PgInstall) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        for folder in (self.home, self.pgdata, self.socket_dir, self.logfile.parent):
            folder.mkdir(parents=True, exist_ok=True)
        if self.pgdata.parent != self.home:
            os.chmod(self.pgdata.parent, 0o755)  # noqa: S103 postgres must enter it
        for folder in (self.pgdata, self.socket_dir, self.logfile.parent):
            self._chown(folder)
        os.chmod(self.pgdata, 0o700)
        password = secrets.token_urlsafe(18)
        pwfile = self.socket_dir / "pwfile"
        pwfile.write_text(password + "\n")
        self._chown(pwfile)
        try:
            self._run([
                str(pg.bindir / "initdb"), "-D", str(self.pgdata), "-U", DB_USER,
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8",
            ])
        except subprocess.CalledProcessError as exc:
            raise ClusterError(f"initdb failed:\n{exc.stderr}") from exc
        finally:
            pwfile.unlink(missing_ok=True)
        self.state_file.write_text(json.dumps({"password": password, "port": self.port}))
        os.chmod(self.state_file, 0o600)
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# geoportal private cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "max_connections = 200\nshared_buffers = 512MB\nwork_mem = 32MB\n"
                "maintenance_work_mem = 512MB\nfsync = on\nsynchronous_commit = off\n"
                "max_wal_size = 4GB\njit = off\nrandom_page_cost = 1.1\n"
            )

    def _settle_port(self) -> None:
        """The port to start on: the remembered one, or ``GEOPORTAL_DB_PORT`` when it was
        given and differs (applied and remembered); a taken port that nobody chose is
        replaced by a free one (e.g. a second checkout on the same machine), a chosen one
        that is taken is an error that says what to do."""
        state = self._state()
        remembered = int(state["port"])
        wanted = self.port if self.port_chosen else remembered
        if _port_taken(wanted):
            if self.port_chosen:
                raise ClusterError(
                    f"port {wanted} on 127.0.0.1 is taken (another checkout's cluster, or "
                    f"another server): set GEOPORTAL_DB_PORT to a free port, e.g. "
                    f"{_free_port()}, and run `geoportal db start` again.")
            wanted = _free_port()
            print(f"port {remembered} is taken: this cluster now uses port {wanted}")
        if wanted != remembered:
            with (self.pgdata / "postgresql.conf").open("a") as conf:
                conf.write(f"port = {wanted}  # geoportal: moved from {remembered}\n")
            state["port"] = wanted
            self.state_file.write_text(json.dumps(state))
            os.chmod(self.state_file, 0o600)
        self.port = wanted

    def _start(self, pg: PgInstall) -> None:
        self._settle_port()
        result = self._run([
            str(pg.bindir / "pg_ctl"), "start", "-D", str(self.pgdata), "-w", "-t", "60",
            "-l", str(self.logfile),
        ], check=False)
        if result.returncode != 0:
            tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else result.stderr
            raise ClusterError(f"PostgreSQL did not start:\n{tail}")
        for _ in range(60):
            ready = subprocess.run(
                [str(pg.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True, check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.5)
        raise ClusterError("PostgreSQL started but does not accept connections")

    def _create_database(self, pg: PgInstall) -> None:
        env = {**os.environ, "PGPASSWORD": str(self._state()["password"])}
        base = [str(pg.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                "-U", DB_USER, "-v", "ON_ERROR_STOP=1", "-qAt"]
        exists = subprocess.run(
            [*base, "-d", "postgres", "-c",
             f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],  # noqa: S608 constant
            capture_output=True, text=True, env=env, check=True,
        ).stdout.strip()
        if not exists:
            subprocess.run([*base, "-d", "postgres", "-c",
                            f"CREATE DATABASE {DB_NAME} OWNER {OWNER_ROLE}"],
                           check=True, env=env, capture_output=True)

    def stop(self) -> None:
        """Stop the cluster and its replicas if they run."""
        pg = find_postgres_with_postgis()
        if pg is None:
            return
        for port in self._replicas():
            pgdata = self._replica_pgdata(port)
            if self._pg_ctl_running(pgdata):
                self._run([str(pg.bindir / "pg_ctl"), "stop", "-D", str(pgdata), "-m", "fast"])
        if self.is_running():
            self._run([str(pg.bindir / "pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast"])

    # -- for geoportal.db.backup (pgBackRest runs as the server's system user) ------------
    @property
    def server_dir(self) -> Path:
        """The folder holding pgdata, the socket and the log (see ``_server_dir``)."""
        return self.pgdata.parent

    def run_as_server(self, args: list[str], env: dict[str, str] | None = None,
                      check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command as the system user the server runs as (``postgres`` under root)."""
        owner = self._owner()
        cmd = ["runuser", "-u", owner, "--", *args] if owner else args
        return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd="/",
                              env=env)

    def give_to_server(self, path: Path) -> None:
        """Make a file or folder the server's system user's."""
        self._chown(path)

    def server_port(self) -> int:
        """The port the server listens on (the remembered one)."""
        return int(self._state()["port"])

    def superuser_password(self) -> str:
        """The bootstrap superuser's password (backups connect as it)."""
        return str(self._state()["password"])

    def start_server(self) -> None:
        """Start the server process only (no role or database set-up)."""
        pg = find_postgres_with_postgis()
        if pg is None:
            raise ClusterError("PostgreSQL with PostGIS is not installed")
        if not self.is_running():
            self._start(pg)


def run_setup_script(pg: PgInstall, port: int, superuser: str, password: str | None,
                     database: str, script: str, passwords: dict[str, str | int]) -> None:
    """Run one of the set-up scripts below as a superuser on loopback; the role names and
    their passwords (``owner_password``, ``app_password``, ``writer_password``) as psql
    variables, never in the SQL text."""
    env = {**os.environ, **({"PGPASSWORD": password} if password else {})}
    variables = {"owner": OWNER_ROLE, "app": APP_ROLE, "writer": WRITER_ROLE, "db": DB_NAME,
                 "owner_password": str(passwords["owner_password"]),
                 "app_password": str(passwords["app_password"]),
                 "writer_password": str(passwords["writer_password"])}
    cmd = [str(pg.bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", superuser,
           "-d", database, "-v", "ON_ERROR_STOP=1", "-qAt", "-f", "-"]
    for name, value in variables.items():
        cmd[1:1] = ["-v", f"{name}={value}"]
    result = subprocess.run(cmd, input=script, capture_output=True, text=True, env=env,
                            check=False)
    if result.returncode != 0:
        raise ClusterError(f"setting up the roles failed in {database}:\n{result.stderr}")


SETUP_SQL = Path(__file__).parent / "sql"


def setup_sql(name: str) -> str:
    """One of the set-up scripts under ``geoportal/db/sql`` — the one source of the roles, the
    schema's rights and the monitor's timeouts, for the private cluster, ``db start --ha`` and
    the production images (deploy/pg_auto_failover copies the same files)."""
    return (SETUP_SQL / name).read_text()


# Cluster-wide roles (roles.sql); in template1 and the service's database: PostGIS and the
# schema's rights (schema.sql); the service's database's owner and grants (database.sql).
ROLES_SQL = setup_sql("roles.sql")
SCHEMA_SQL = setup_sql("schema.sql")
DATABASE_SQL = setup_sql("database.sql")


def _port_taken(port: int) -> bool:
    """Whether something listens on (or holds) that loopback port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _reachable_by(user: str, folder: Path) -> bool:
    """Whether a system user can enter every folder on the way to ``folder``."""
    probe = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(folder)],
                           capture_output=True, check=False)
    return probe.returncode == 0


def validate_identifier(name: str) -> str:
    """A database name safe to interpolate in DDL (no user input reaches here unchecked)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"invalid database name: {name!r}")
    return name
