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


def _flags(options: dict[str, Any]) -> list[str]:
    """``uvicorn.run`` options as uvicorn's command-line flags (``access_log=False``:
    ``--no-access-log``, ``factory=True``: ``--factory``, ``http=X``: ``--http X``)."""
    flags: list[str] = []
    for name, value in options.items():
        flag = name.replace("_", "-")
        if value is True:
            flags.append(f"--{flag}")
        elif value is False:
            flags.append(f"--no-{flag}")
        else:
            flags += [f"--{flag}", str(value)]
    return flags


def uvicorn_command(host: str, port: int, *, workers: int = 1, log_level: str = "warning",
                    extra: Sequence[str] = ()) -> list[str]:
    """The service under uvicorn as a command line (this Python), with the options of
    ``uvicorn_options``."""
    command = [sys.executable, "-m", "uvicorn", APP, "--host", host, "--port", str(port),
               "--log-level", log_level, *_flags(uvicorn_options())]
    if workers > 1:
        command += ["--workers", str(workers)]
    return [*command, *extra]
