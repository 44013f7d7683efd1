"""Which database URL each role uses, and one URL spelled for each driver.

The settings only hold what was configured; the private cluster's URLs (under ``home``) are
read here, so configuration never reaches into infrastructure.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from geoportal.db.cluster import Cluster
from geoportal.settings import Settings


def resolve_database_url(settings: Settings) -> str:
    """The service's (read) URL: the configured one, or the private cluster's."""
    if settings.database_url:
        return settings.database_url
    return Cluster(settings).url()


def resolve_write_database_url(settings: Settings) -> str:
    """The URL edits are written with: the configured one, else the service's own when set
    (an external database), else the private cluster's writer role."""
    if settings.write_database_url:
        return settings.write_database_url
    if settings.database_url:
        return settings.database_url
    return Cluster(settings).writer_url()


def resolve_admin_database_url(settings: Settings) -> str:
    """The URL of the schema's owner: the configured one, else the service's own when set
    (an external database), else the private cluster's owner role."""
    if settings.admin_database_url:
        return settings.admin_database_url
    if settings.database_url:
        return settings.database_url
    return Cluster(settings).admin_url()


def sqlalchemy_url(url: str) -> str:
    """The URL for SQLAlchemy with the psycopg 3 driver."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The plain ``postgresql://`` URL that asyncpg, psql and GDAL understand."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """The URL with its password hidden, for printing."""
    return make_url(url).render_as_string(hide_password=True)
