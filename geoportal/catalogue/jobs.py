"""pygeoapi's process manager in the service: synchronous runs only, no job store, callbacks
only to hosts the operator configured, and errors told without Python text.

pygeoapi's own managers POST subscriber callbacks with ``requests`` and no timeout from the
thread running the process, to any URL the client gives; here the URL must name a host of
``GEOPORTAL_PROCESS_CALLBACK_HOSTS`` (checked when the request arrives: 400 otherwise), and
the POST is sent from the event loop with a short timeout, never waited for.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from pygeoapi.process.base import ProcessorExecuteError
from pygeoapi.process.manager.dummy import DummyManager
from pygeoapi.util import JobStatus, RequestedProcessExecutionMode, RequestedResponse, Subscriber

from geoportal.catalogue import runtime
from geoportal.core.logs import RateLimitedLog
from geoportal.errors import GeoportalError

log = logging.getLogger("geoportal")
callback_log = RateLimitedLog(log, interval_s=10.0)
MAX_PENDING_CALLBACKS = 16
FAILED = ("Le calcul a échoué ; l'erreur a été consignée.",
          "The process failed; the error has been logged.")


def parse_hosts(text: str) -> frozenset[str]:
    """``"a.example, B.example"`` as ``{"a.example", "b.example"}``."""
    return frozenset(h.strip().lower().rstrip(".") for h in text.split(",") if h.strip())


class Callbacks:
    """Where a process subscriber may be notified, and the sending of those notifications."""

    def __init__(self, hosts: frozenset[str], timeout_s: float,
                 max_pending: int = MAX_PENDING_CALLBACKS) -> None:
        self.hosts = hosts
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._pending: set[asyncio.Task[None]] = set()

    def allows(self, url: object) -> bool:
        """Whether ``url`` is an http(s) URL, without credentials, on a configured host."""
        if not isinstance(url, str) or not self.hosts or len(url) > 2048:
            return False
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
            parts.port  # noqa: B018 - raises ValueError on a port out of range
        except ValueError:
            return False
        return (parts.scheme in ("http", "https") and "@" not in parts.netloc
                and host in self.hosts)

    def send(self, loop: asyncio.AbstractEventLoop, url: str | None, payload: Any) -> None:
        """POST ``payload`` to ``url`` from the loop, later; callable from any thread."""
        if url is None:
            return
        if not self.allows(url):  # checked on arrival already: a second lock on the door
            log.warning("process callback to an unconfigured host not sent")
            return
        loop.call_soon_threadsafe(self._start, url, payload)

    def _start(self, url: str, payload: Any) -> None:
        if len(self._pending) >= self.max_pending:
            callback_log.warning("callbacks", "process callback dropped: %d already pending",
                                 len(self._pending))
            return
        task = asyncio.get_running_loop().create_task(self._post(url, payload))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _post(self, url: str, payload: Any) -> None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False,
                                         trust_env=False) as client:
                response = await client.post(url, json=payload)
            if response.status_code >= 400:
                callback_log.warning("callbacks", "process callback answered %d",
                                     response.status_code)
        except httpx.HTTPError as exc:
            callback_log.warning("callbacks", "process callback failed: %s", type(exc).__name__)

    async def drain(self) -> None:
        """Wait for the notifications under way (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


class ProcessRefused(ProcessorExecuteError):
    """A process error as pygeoapi reports it, with our status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(user_msg=message)
        self.http_status_code = status
        self.ogc_exception_code = code


def refusal(exc: Exception) -> ProcessRefused:
    """What the client is told about a failed run, in its language, without Python text."""
    english = runtime.language() == "en"
    if isinstance(exc, GeoportalError):
        return ProcessRefused(exc.status_code, exc.code, exc.text(runtime.language()))
    log.error("process failed", exc_info=exc)
    return ProcessRefused(500, "NoApplicableCode", FAILED[1] if english else FAILED[0])


class GeoportalManager(DummyManager):
    """Runs processes synchronously (``Prefer: respond-async`` is answered synchronously)."""

    def execute_process(
        self,
        process_id: str,
        data_dict: dict[str, Any],
        execution_mode: RequestedProcessExecutionMode | None = None,
        requested_outputs: dict[str, Any] | None = None,
        subscriber: Subscriber | None = None,
        requested_response: str | None = RequestedResponse.raw.value,
    ) -> tuple[str, str, Any, JobStatus, dict[str, str] | None]:
        """The outputs of one run, or a :class:`ProcessRefused` pygeoapi turns into a 4xx."""
        headers = None if execution_mode is None else {
            "Preference-Applied": RequestedProcessExecutionMode.wait.value}
        processor = self.get_processor(process_id)
        self._send_in_progress_notification(subscriber)
        try:
            mimetype, outputs = processor.execute(data_dict, outputs=requested_outputs)
        except Exception as exc:
            self._send_failed_notification(subscriber)
            raise refusal(exc) from exc
        self._send_success_notification(subscriber, outputs)
        if requested_response == RequestedResponse.document.value:
            outputs = {"outputs": [outputs]}
        return str(uuid.uuid4()), mimetype, outputs, JobStatus.successful, headers

    def _notify(self, url: str | None, payload: Any) -> None:
        service = runtime.current()
        if service is None or service.callbacks is None:
            if url is not None:
                log.warning("process callback not sent: no service to send it from")
            return
        service.callbacks.send(service.loop, url, payload)

    def _send_in_progress_notification(self, subscriber: Subscriber | None) -> None:
        if subscriber is not None:
            self._notify(subscriber.in_progress_uri, {})

    def _send_success_notification(self, subscriber: Subscriber | None, outputs: Any) -> None:
        if subscriber is not None:
            self._notify(subscriber.success_uri, outputs)

    def _send_failed_notification(self, subscriber: Subscriber | None) -> None:
        if subscriber is not None:
            self._notify(subscriber.failed_uri, {})

    def __repr__(self) -> str:
        return "<GeoportalManager>"
