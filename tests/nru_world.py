"""e-renseignement tests: a small demo database, a real SMTP server on loopback, keys,
plots under approved and unapproved plans, and surveyed outlines written with GDAL."""

from __future__ import annotations

import email
import email.policy
import io
import re
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyogrio.raw
import shapely
from aiosmtpd.controller import Controller
from shapely.geometry import Polygon

from geoportal.core.auth_keys import create_key
from geoportal.settings import Settings

DEMO_PARCELS = 2000
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
HTML = b"<!doctype html><html><script>alert(1)</script></html>"
TRACKING = re.compile(r"https?://\S+/renseignement/suivi/([A-Za-z0-9_-]{20,})")


def demo_world(fresh_database: Callable[..., str], folder: Path, name: str) -> str:
    """A migrated database of the test's own with the demo data (2,000 plots)."""
    from geoportal.demo.load import load_demo

    url = fresh_database(name)
    load_demo(url, parcels=DEMO_PARCELS, seed=42, raster_dir=folder / "rasters")
    return url


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Inbox:
    """What the test SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 20.0
                 ) -> list[EmailMessage]:
        """The messages to ``address`` once there are ``count`` of them (or fail)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.to(address)
            if len(received) >= count:
                return received
            time.sleep(0.05)
        raise AssertionError(f"{count} mail(s) to {address} expected, got {self.to(address)}")


def body(message: EmailMessage) -> str:
    """The text of a received message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()  # type: ignore[attr-defined]
    return content


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[tuple[int, Inbox]]:
    """A real SMTP server (aiosmtpd) on a loopback port, with its inbox."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def settings_for(url: str, folder: Path, smtp_port: int, **overrides: Any) -> Settings:
    """The service's settings for these tests: fast worker, fast retries, files in ``folder``."""
    values: dict[str, Any] = {
        "database_url": url, "data_dir": folder / "rasters", "nru_files_dir": folder / "files",
        "smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_tls": "none",
        "smtp_timeout_s": 5, "worker_poll_s": 0.2, "mail_retry_min_s": 0.3,
        "mail_retry_max_s": 1.0, "nru_staff_email": "instruction@auc.test",
        "auth_cache_s": 300, **overrides}
    return Settings(**values)


def staff_key(url: str, name: str, role: str) -> str:
    """A new API key for a staff member."""
    key, _ = create_key(url, name, role)
    return key


def plot_under(url: str, plan_ref: str, offset: int = 0) -> str:
    """A plot entirely inside one plan (by its reference), e.g. Anfa's (approved) or the
    Hay Hassani revision under study."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT p.ref FROM parcels p JOIN plans pl ON ST_Within(p.geom, pl.geom) "
            "WHERE pl.ref = %s ORDER BY p.id OFFSET %s LIMIT 1", (plan_ref, offset)).fetchone()
    assert row is not None, plan_ref
    return str(row[0])


def plot_polygon(url: str, ref: str) -> Polygon:
    """A plot's outline in EPSG:26191 (to resubmit it as a surveyed outline)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT ST_AsBinary(ST_GeometryN(geom, 1)) FROM parcels "
                           "WHERE ref = %s", (ref,)).fetchone()
    assert row is not None
    polygon = shapely.from_wkb(bytes(row[0]))
    assert isinstance(polygon, Polygon)
    return polygon


def _write(path: Path, polygon: Polygon, driver: str, crs: str | None) -> None:
    pyogrio.raw.write(path, np.array([shapely.to_wkb(polygon)], dtype=object), [], [],
                      geometry_type="Polygon", crs=crs, driver=driver)


def shapefile_zip(polygon: Polygon, folder: Path, crs: str = "EPSG:26191") -> bytes:
    """A zipped Shapefile (with its .prj) holding the polygon."""
    target = folder / "shp"
    target.mkdir(parents=True, exist_ok=True)
    _write(target / "levé.shp", polygon, "ESRI Shapefile", crs)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in sorted(target.iterdir()):
            archive.write(part, f"plan/{part.name}")
    return buffer.getvalue()


def dxf_file(polygon: Polygon, folder: Path) -> bytes:
    """A DXF drawing of the polygon, made by ogr2ogr from a GeoJSON (as a surveyor's CAD
    export would be: no CRS inside)."""
    folder.mkdir(parents=True, exist_ok=True)
    source, target = folder / "plot.geojson", folder / "plot.dxf"
    _write(source, polygon, "GeoJSON", "EPSG:26191")
    target.unlink(missing_ok=True)
    subprocess.run(["ogr2ogr", "-f", "DXF", str(target), str(source)], check=True,
                   capture_output=True)
    return target.read_bytes()


def person(email_address: str = "amina.bennani@example.ma") -> dict[str, str]:
    """A requester."""
    return {"name": "Amina Bennani", "id_number": "BE123456", "email": email_address,
            "phone": "+212 6 12 34 56 78"}


def form_fields(email_address: str, capacity: str = "notary", **extra: str) -> dict[str, str]:
    """The text fields of the request form."""
    who = person(email_address)
    return {"requester_name": who["name"], "requester_id_number": who["id_number"],
            "requester_email": who["email"], "requester_phone": who["phone"],
            "capacity": capacity, "purpose": "Projet de construction d'une villa", **extra}


def token_of(url: str) -> str:
    """The token at the end of a tracking URL."""
    match = TRACKING.search(url)
    assert match is not None, url
    return match.group(1)


def path_of(url: str) -> str:
    """The path of a tracking URL (for the in-process client)."""
    return url[url.index("/renseignement/"):]
