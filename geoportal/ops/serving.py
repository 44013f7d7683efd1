"""How the service runs under uvicorn, in one place: ``geoportal serve``, the instances behind
the proxy, the benchmarks and the tests' live servers all take their options from here.

* the HTTP protocol that writes a response as one write (``core.protocol``);
* no ``server`` banner, no access log (requests are logged by the service itself);
* idle keep-alive connections kept longer than the ``Retry-After`` the service asks of a
  refused client: a client that waits as told and reuses its connection finds it open,
  rather than racing the server closing it (uvicorn's default is exactly 5 s).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from geoportal.core.protocol import PROTOCOL
from geoportal.errors import RETRY_AFTER_S

APP = "geoportal.app:create_app"
KEEP_ALIVE_S = RETRY_AFTER_S + 10


def uvicorn_options() -> dict[str, Any]:
    """The options of ``uvicorn.run`` that every server of the service shares."""
    return {"factory": True, "http": PROTOCOL, "server_header": False, "access_log": False,
            "timeout_keep_alive": KEEP_ALIVE_S}


def uvicorn_command(host: str, port: int, *, workers: int = 1, log_level: str = "warning",
                    extra: Sequence[str] = ()) -> list[str]:
    """The service under uvicorn as a command line (this Python)."""
    command = [sys.executable, "-m", "uvicorn", APP, "--factory", "--host", host,
               "--port", str(port), "--log-level", log_level, "--no-access-log",
               "--no-server-header", "--http", PROTOCOL,
               "--timeout-keep-alive", str(KEEP_ALIVE_S)]
    if workers > 1:
        command += ["--workers", str(workers)]
    return [*command, *extra]
