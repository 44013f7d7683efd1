"""nginx in front of several instances of the service, all on loopback, under the home.

``geoportal serve --proxy --instances N`` runs N uvicorn instances on free loopback ports
and one nginx (a non-daemon child with its own prefix, temp and cache folders under
``home/proxy``; the system's nginx and its configuration are never touched) on the public
port. An instance that exits is started again; nginx exiting stops everything.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jinja2

from geoportal.ops.serving import uvicorn_command

TEMPLATE = "nginx.conf.j2"
MIME_TYPES = "/etc/nginx/mime.types"  # Debian's nginx and the official image alike
START_TIMEOUT_S = 60.0
RESTART_BACKOFF_MAX_S = 30.0


class ProxyError(RuntimeError):
    """The proxy cannot run; the message says what to do."""


@dataclass(frozen=True)
class ProxyConfig:
    """What the nginx configuration is rendered from."""

    listen: str  # "127.0.0.1:8000", "80"
    upstreams: Sequence[str]  # "127.0.0.1:8001", "app1:8000"
    prefix: Path  # temp, cache, logs and pid live under it
    worker_processes: str = "auto"
    cache_max: str = "1g"
    client_max_body: str = "64m"
    fail_timeout_s: int = 5
    server_name: str | None = None
    daemon: bool = False
    user: str | None = None
    access_log: str | None = None  # default prefix/logs/access.log
    error_log: str | None = None


def render_config(config: ProxyConfig) -> str:
    """The nginx configuration text (template: geoportal/ops/nginx.conf.j2)."""
    if not config.upstreams:
        raise ProxyError("at least one upstream instance is needed")
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False)  # noqa: S701 nginx text, not HTML
    prefix = config.prefix
    return environment.get_template(TEMPLATE).render(
        user=config.user, worker_processes=config.worker_processes, daemon=config.daemon,
        pid_file=prefix / "nginx.pid", error_log=config.error_log or prefix / "logs/error.log",
        access_log=config.access_log or prefix / "logs/access.log",
        mime_types=MIME_TYPES,
        client_max_body=config.client_max_body, temp=prefix / "temp",
        upstreams=list(config.upstreams), fail_timeout_s=config.fail_timeout_s,
        cache_dir=prefix / "cache", cache_max=config.cache_max, listen=config.listen,
        server_name=config.server_name)


def find_nginx(install: bool = True) -> str:
    """The nginx binary; installed with apt-get when missing and allowed (root)."""
    found = shutil.which("nginx") or next(
        (str(p) for p in (Path("/usr/sbin/nginx"),) if p.exists()), None)
    if found:
        return found
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"],
                       check=False, env=env, stdout=subprocess.DEVNULL)
        return find_nginx(install=False)
    raise ProxyError("nginx is not installed: sudo apt-get install nginx (Debian's package; "
                     "the system's nginx service need not run)")


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Instance:
    """One uvicorn instance of the service behind the proxy."""

    port: int
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    restart_at: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, env=self.env)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def instance_command(port: int, workers: int) -> list[str]:
    """uvicorn on loopback, trusting X-Forwarded-* from the proxy (on loopback) only."""
    return uvicorn_command("127.0.0.1", port, workers=workers, extra=[
        "--forwarded-allow-ips", "127.0.0.1", "--timeout-graceful-shutdown", "20"])


def metrics_dir(home: Path, name: str) -> Path:
    """An empty folder for prometheus-client's multiprocess files (cleaned at start)."""
    folder = home / "metrics" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@dataclass
class ProxiedService:
    """N instances and nginx in front, supervised until stopped."""

    home: Path
    host: str
    port: int
    instances: int
    workers: int = 1
    public_url: str | None = None
    say: Callable[[str], None] = print
    _instances: list[Instance] = field(default_factory=list)
    _nginx: subprocess.Popen[bytes] | None = None
    _stopping: bool = False

    @property
    def prefix(self) -> Path:
        return self.home / "proxy"

    def _prepare(self) -> tuple[str, Path]:
        nginx = find_nginx()
        shutil.rmtree(self.prefix / "cache", ignore_errors=True)  # no tile of an earlier run
        for folder in ("temp", "cache", "logs"):
            (self.prefix / folder).mkdir(parents=True, exist_ok=True)
        public = self.public_url or f"http://{self.host}:{self.port}"
        for index in range(self.instances):
            port = free_port()
            env = {**os.environ, "GEOPORTAL_PUBLIC_URL": public}
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            if self.workers > 1:
                env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir(self.home, f"i{index}"))
            self._instances.append(Instance(port, instance_command(port, self.workers), env))
        config = ProxyConfig(listen=f"{self.host}:{self.port}",
                             upstreams=[i.address for i in self._instances], prefix=self.prefix,
                             user="root" if os.geteuid() == 0 else None)
        conf = self.prefix / "nginx.conf"
        conf.write_text(render_config(config))
        # Prometheus file-based discovery: scrape each instance, not the proxy.
        (self.prefix / "targets.json").write_text(json.dumps(
            [{"targets": [i.address for i in self._instances],
              "labels": {"job": "geoportal"}}]))
        checked = subprocess.run(self._nginx_command(nginx, conf, "-t"), capture_output=True,
                                 text=True, check=False)
        if checked.returncode != 0:
            raise ProxyError(f"nginx refuses its configuration {conf}:\n{checked.stderr}")
        return nginx, conf

    def _nginx_command(self, nginx: str, conf: Path, *extra: str) -> list[str]:
        return [nginx, "-p", str(self.prefix), "-c", str(conf),
                "-e", str(self.prefix / "logs/error.log"), *extra]

    def _wait_listening(self, instance: Instance) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if instance.process is not None and instance.process.poll() is not None:
                raise ProxyError(f"the instance on port {instance.port} exited at start-up")
            try:  # any answer will do: a 503 while the database is down is an answer
                httpx.get(f"http://{instance.address}/health", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise ProxyError(f"the instance on port {instance.port} did not answer in "
                         f"{START_TIMEOUT_S:.0f} s")

    def start(self) -> None:
        """Start the instances, wait until they answer, then nginx in front."""
        nginx, conf = self._prepare()
        for instance in self._instances:
            instance.start()
        for instance in self._instances:
            self._wait_listening(instance)
        self._nginx = subprocess.Popen(self._nginx_command(nginx, conf))
        self._write_state()
        self.say(f"nginx on http://{self.host}:{self.port} in front of "
                 + ", ".join(i.address for i in self._instances)
                 + f" (cache and logs in {self.prefix})")

    def _supervise_once(self) -> None:
        now = time.monotonic()
        for instance in self._instances:
            process = instance.process
            if process is None or process.poll() is None:
                continue
            if instance.restart_at == 0.0:
                delay = min(2.0 ** instance.restarts, RESTART_BACKOFF_MAX_S)
                instance.restart_at = now + delay
                self.say(f"instance {instance.address} exited ({process.returncode}); "
                         f"starting it again in {delay:.0f} s")
            elif now >= instance.restart_at:
                instance.restarts += 1
                instance.restart_at = 0.0
                instance.start()
                self._write_state()

    def _write_state(self) -> None:
        """Who runs where (``home/proxy/instances.json``), for operators and tests."""
        state = {"proxy": f"{self.host}:{self.port}",
                 "nginx_pid": self._nginx.pid if self._nginx else None,
                 "instances": [{"address": i.address, "restarts": i.restarts,
                                "pid": i.process.pid if i.process else None}
                               for i in self._instances]}
        (self.prefix / "instances.json").write_text(json.dumps(state, indent=1))

    def run(self) -> int:
        """Supervise until SIGINT/SIGTERM or nginx exits; the exit status."""
        def stop(_signum: int, _frame: object) -> None:
            self._stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            self.start()
            while not self._stopping:
                if self._nginx is not None and self._nginx.poll() is not None:
                    self.say(f"nginx exited ({self._nginx.returncode}): stopping; see "
                             f"{self.prefix / 'logs/error.log'}")
                    return 1
                self._supervise_once()
                time.sleep(0.25)
            return 0
        finally:
            self.stop()

    def stop(self) -> None:
        """nginx first (graceful: finishes its requests), then the instances."""
        if self._nginx is not None and self._nginx.poll() is None:
            self._nginx.send_signal(signal.SIGQUIT)
            _wait(self._nginx, 20)
        for instance in self._instances:
            if instance.process is not None and instance.process.poll() is None:
                instance.process.terminate()
        for instance in self._instances:
            if instance.process is not None:
                _wait(instance.process, 25)


def _wait(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
