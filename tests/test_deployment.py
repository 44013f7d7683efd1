"""The deployment files agree with the project: what they copy exists, what they wire is right.

Docker cannot run here, so these checks read the files; they fail when a path, a service or
a variable drifts from the code.
"""

from __future__ import annotations

import re

import yaml

from geoportal.core.resources import CHECKOUT
from geoportal.settings import Settings


def test_every_path_the_dockerfile_copies_exists() -> None:
    dockerfile = (CHECKOUT / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE)
    sources = [src for line in copies for src in line.split()]
    assert {"geoportal", "layers", "migrations", "pygeoapi-config.yml"} <= set(sources)
    assert "pip install -e" not in dockerfile  # a wheel install: no checkout at run time
    for source in sources:
        assert (CHECKOUT / source).exists(), source


def test_the_dockerfile_settings_are_real_settings() -> None:
    dockerfile = (CHECKOUT / "Dockerfile").read_text()
    names = set(re.findall(r"GEOPORTAL_([A-Z_]+)=", dockerfile)) - {"WORKERS"}
    fields = {name.upper() for name in Settings.model_fields}
    assert names and names <= fields


def test_compose_wires_the_app_to_a_healthy_postgis() -> None:
    compose = yaml.safe_load((CHECKOUT / "docker-compose.yml").read_text())
    db, app = compose["services"]["db"], compose["services"]["app"]
    assert "postgis" in db["image"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "@db:5432/" in app["environment"]["GEOPORTAL_DATABASE_URL"]
    assert app["build"] == "."
    assert any(port.endswith(":8000") for port in app["ports"])
