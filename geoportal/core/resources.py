"""Files the service ships with (layer definitions, migrations, pygeoapi's configuration).

In a checkout they sit beside the package (the project's top-level layout); in an installed
wheel they travel inside it as ``geoportal.resources``. Either way they are found here, so a
``pip install`` of the wheel needs no checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent.parent


def resource_path(name: str) -> Path:
    """The shipped file or folder ``name`` (``layers``, ``migrations``, ``pygeoapi-config.yml``)."""
    installed = Path(__file__).resolve().parent.parent / "resources" / name
    if installed.exists():
        return installed
    try:  # an editable install maps geoportal.resources onto the checkout
        mapped = Path(str(resources.files("geoportal.resources"))) / name
        if mapped.exists():
            return mapped
    except (ModuleNotFoundError, TypeError):
        pass
    return CHECKOUT / name


def default_home() -> Path:
    """The private state folder: ``.geoportal`` in a checkout, else in the working folder."""
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "geoportal").is_dir():
        return CHECKOUT / ".geoportal"
    return Path.cwd() / ".geoportal"
