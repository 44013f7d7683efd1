"""``pygeoapi-config.yml``: generated from the layer registry and the raster list, then loaded
with ``${VAR}`` (and ``${VAR:-default}``) taken from the environment and the settings.

The committed file is the output of :func:`render_config`; a test keeps the two equal, so
there is one list of datasets, the registry's.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import yaml

from geoportal.catalogue import french
from geoportal.catalogue.coverage_grid import read_grid
from geoportal.db.urls import resolve_database_url
from geoportal.ingest.crs import AUC_LONLAT
from geoportal.opendata.licenses import license_of
from geoportal.opendata.rasters import raster, raster_datasets
from geoportal.registry import LayerRegistry
from geoportal.settings import Settings

log = logging.getLogger("geoportal")
CATALOGUE_ID = "catalogue"
PROCESS_ID = "parcel-rules"
HEADER = ("# pygeoapi configuration, generated from layers/ by `geoportal pygeoapi-config`:\n"
          "# do not edit by hand. ${VAR} and ${VAR:-default} come from the environment and\n"
          "# the service's settings (GEOPORTAL_DATABASE_URL, GEOPORTAL_DATA_DIR, ...).\n")
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")
BBOX = [AUC_LONLAT.west_lon_degree, AUC_LONLAT.south_lat_degree, AUC_LONLAT.east_lon_degree,
        AUC_LONLAT.north_lat_degree]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
PUBLIC = "${GEOPORTAL_PUBLIC_URL:-http://127.0.0.1:8000}"
TEMPLATES = Path(__file__).parent / "templates"  # pygeoapi's pages without CDN assets
STATIC = Path(__file__).parent / "static"  # the vendored assets, before pygeoapi's own


def _server() -> dict[str, Any]:
    return {
        "bind": {"host": "127.0.0.1", "port": 8000},
        "url": f"{PUBLIC}/pygeoapi",
        "mimetype": "application/json; charset=UTF-8",
        "encoding": "utf-8",
        "gzip": False,
        "languages": ["fr-FR", "en-US"],
        "cors": True,
        "pretty_print": False,
        "limits": {"default_items": 10, "max_items": 100},
        "map": {"url": f"{PUBLIC}/pygeoapi/static/tiles/blank.png",  # no tiles from elsewhere
                "attribution": "© Agence urbaine de Casablanca"},
        "locale_dir": "${GEOPORTAL_PYGEOAPI_LOCALE}",  # the French of its pages
        "templates": {"path": "${GEOPORTAL_PYGEOAPI_TEMPLATES}",
                      "static": "${GEOPORTAL_PYGEOAPI_STATIC}"},
        "manager": {"name": "geoportal.catalogue.jobs.GeoportalManager", "connection": None,
                    "output_dir": None},  # synchronous, no job store, checked callbacks
    }


def _metadata(registry: LayerRegistry) -> dict[str, Any]:
    licenses = sorted({layer.license for layer in registry})
    terms = license_of(licenses[0]) if len(licenses) == 1 else None
    return {
        "identification": {
            "title": {"fr": "Géoportail de l'Agence urbaine de Casablanca",
                      "en": "Casablanca Urban Agency geoportal"},
            "description": {
                "fr": "Catalogue des données ouvertes, règles d'urbanisme d'une parcelle et "
                      "rasters (aléa inondation). Données de démonstration synthétiques.",
                "en": "Open data catalogue, the planning rules of a plot, and rasters "
                      "(flood hazard). Synthetic demonstration data."},
            "keywords": ["urbanisme", "Casablanca", "données ouvertes", "OGC API"],
            "keywords_type": "theme",
            "terms_of_service": f"{PUBLIC}/opendata",
            "url": f"{PUBLIC}/",
        },
        "license": {"name": terms.id if terms else ", ".join(licenses),
                    "url": (terms.url if terms and terms.url else f"{PUBLIC}/opendata")},
        "provider": {"name": "Agence urbaine de Casablanca", "url": f"{PUBLIC}/"},
        "contact": {"name": "Agence urbaine de Casablanca", "position": "Géoportail",
                    "email": "${GEOPORTAL_CONTACT_EMAIL}",
                    "city": "Casablanca", "country": "Maroc", "url": f"{PUBLIC}/",
                    "role": "pointOfContact"},
    }


def _catalogue(registry: LayerRegistry) -> dict[str, Any]:
    keywords = list(dict.fromkeys(k for layer in registry for k in layer.keywords))
    links = [{"type": "text/html", "rel": "related", "title": f"{layer.title}: open data",
              "href": f"{PUBLIC}/opendata#{layer.id}"} for layer in registry]
    return {
        "type": "collection",
        "title": {"fr": "Catalogue des données ouvertes", "en": "Open data catalogue"},
        "description": {"fr": "Un enregistrement par jeu de données publié: couches du "
                              "registre et rasters, avec licences et téléchargements.",
                        "en": "One record per published dataset: the registry's layers and "
                              "the rasters, with licenses and downloads."},
        "keywords": ["catalogue", *keywords],
        "links": links,
        "extents": {"spatial": {"bbox": BBOX, "crs": CRS84}},
        "providers": [{
            "type": "record",
            "name": "geoportal.catalogue.records.CatalogueProvider",
            "data": "${GEOPORTAL_LAYERS_DIR}",
            "database_url": "${GEOPORTAL_DATABASE_URL}",
            "raster_dir": "${GEOPORTAL_DATA_DIR}",
            "public_url": PUBLIC,
            "id_field": "id",
            "title_field": "title",
            "time_field": "updated",
        }],
    }


def _coverages(registry: LayerRegistry) -> dict[str, Any]:
    return {raster.id: {
        "type": "collection",
        "title": raster.title,
        "description": raster.description,
        "keywords": raster.keywords,
        "links": [{"type": "text/html", "rel": "license", "title": raster.license,
                   "href": f"{PUBLIC}/opendata/{raster.id}.license.txt"}],
        "extents": {"spatial": {"bbox": BBOX, "crs": CRS84}},
        "providers": [{
            "type": "coverage",
            "name": "rasterio",
            "data": f"${{GEOPORTAL_DATA_DIR}}/{raster.layer.file}",
            "format": {"name": "GTiff", "mimetype": "application/x-geotiff"},
        }],
    } for raster in raster_datasets(registry)}


def _process() -> dict[str, Any]:
    return {PROCESS_ID: {"type": "process",
                         "processor": {"name": "geoportal.catalogue.process.ParcelRulesProcessor",
                                       "database_url": "${GEOPORTAL_DATABASE_URL}",
                                       "raster_dir": "${GEOPORTAL_DATA_DIR}"}}}


def render_config(registry: LayerRegistry) -> str:
    """The text of ``pygeoapi-config.yml`` for this registry."""
    document = {
        "server": _server(),
        # pygeoapi logs every 4xx at ERROR with a traceback; the mount logs its 5xx instead
        "logging": {"level": "CRITICAL"},
        "metadata": _metadata(registry),
        "resources": {CATALOGUE_ID: _catalogue(registry), **_coverages(registry), **_process()},
    }
    return HEADER + yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)


def variables(settings: Settings, base_url: str | None = None) -> dict[str, str]:
    """What ``${VAR}`` resolves to: the environment, then the service's own settings.

    Without ``GEOPORTAL_PUBLIC_URL`` the links follow the URL the service was reached at.
    """
    values = dict(os.environ)
    values["GEOPORTAL_DATABASE_URL"] = resolve_database_url(settings)
    values["GEOPORTAL_DATA_DIR"] = str(settings.raster_dir)
    values["GEOPORTAL_LAYERS_DIR"] = str(settings.layers_dir)
    values["GEOPORTAL_PYGEOAPI_TEMPLATES"] = str(TEMPLATES)
    values["GEOPORTAL_PYGEOAPI_STATIC"] = str(STATIC)
    values["GEOPORTAL_PYGEOAPI_LOCALE"] = str(french.locale_dir(settings.home))
    # The agency's address people write to: the sender of its mail, unless set apart.
    if not values.get("GEOPORTAL_CONTACT_EMAIL"):
        values["GEOPORTAL_CONTACT_EMAIL"] = parseaddr(settings.smtp_sender)[1]
    public = settings.public_url or base_url
    if public:
        values["GEOPORTAL_PUBLIC_URL"] = public.rstrip("/")
    return values


def substitute(node: Any, values: Mapping[str, str]) -> Any:
    """Every ``${VAR}`` / ``${VAR:-default}`` in the strings of a YAML tree, resolved."""
    if isinstance(node, dict):
        return {key: substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [substitute(value, values) for value in node]
    if not isinstance(node, str):
        return node

    def resolve(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if values.get(name):  # empty counts as unset, as in the shell
            return values[name]
        if default is not None:
            return default
        raise KeyError(f"pygeoapi-config.yml needs the environment variable {name}")

    return VARIABLE.sub(resolve, node)


def load_config(settings: Settings, registry: LayerRegistry,
                base_url: str | None = None) -> dict[str, Any]:
    """The configuration pygeoapi runs with; coverages whose file is missing are left out,
    the others advertise their file's own extent (the committed file cannot know it)."""
    raw = yaml.safe_load(settings.pygeoapi_config.read_text(encoding="utf-8"))
    config: dict[str, Any] = substitute(raw, variables(settings, base_url))
    for name, resource in list(config["resources"].items()):
        for provider in resource.get("providers", []):
            if provider.get("type") != "coverage":
                continue
            if not os.path.isfile(provider["data"]):
                log.warning("pygeoapi: %s left out, %s is missing", name, provider["data"])
                del config["resources"][name]
                break
            dataset = raster(registry, name)
            try:
                grid = read_grid(dataset, settings.raster_dir) if dataset else None
            except (OSError, ValueError) as exc:  # unreadable: served as a 404 by coverages
                log.warning("pygeoapi: %s cannot be read: %s", provider["data"], exc)
                grid = None
            if grid is not None:
                resource["extents"]["spatial"]["bbox"] = list(grid.lonlat)
    return config
