"""Which database URL each role uses, and one URL spelled for each driver.

The settings only hold what was configured; the private cluster's URLs (under ``home``) are
read here, so configuration never reaches into infrastructure.

A URL may name several servers (libpq's multi-host form, ``postgresql://u:p@h1:5432,h2:5432/db
?target_session_attrs=read-write``): libpq, psycopg and asyncpg then try them in turn and keep
the first whose role matches, which is how the service follows a failover by itself.
SQLAlchemy cannot parse that form, so it is rewritten to its ``?host=h1:p1&host=h2:p2`` twin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import make_url

from geoportal.db.cluster import Cluster, ClusterError
from geoportal.settings import Settings

SCHEME = r"postgres(?:ql)?(?:\+\w+)?://"  # how a database URL starts


def _role_url(settings: Settings, configured: str | None,
              of_cluster: Callable[[Cluster], str]) -> str:
    """A role's URL: the one configured for it, else the service's own when set (an external
    database), else the private cluster's URL for that role."""
    return configured or settings.database_url or of_cluster(Cluster(settings))


def resolve_database_url(settings: Settings) -> str:
    """The service's (read) URL: the configured one, or the private cluster's."""
    return _role_url(settings, None, Cluster.url)


def resolve_write_database_url(settings: Settings) -> str:
    """The URL edits are written with (the private cluster's writer role by default)."""
    return _role_url(settings, settings.write_database_url, Cluster.writer_url)


def resolve_admin_database_url(settings: Settings) -> str:
    """The URL of the schema's owner (the private cluster's owner role by default)."""
    return _role_url(settings, settings.admin_database_url, Cluster.admin_url)


def resolve_replica_urls(settings: Settings) -> list[str]:
    """The read replicas' URLs: the configured ones, else the private cluster's replicas when
    no database URL is set; none means every read goes to the primary."""
    if "replica_urls" in settings.model_fields_set or settings.database_url:
        # a comma also separates the hosts of one multi-host URL: split before a scheme
        urls = re.split(rf",\s*(?={SCHEME})", settings.replica_urls)
        return [url.strip(" ,") for url in urls if url.strip(" ,")]
    try:
        return Cluster(settings).replica_urls()
    except ClusterError:
        return []


_SCHEME = re.compile(f"^{SCHEME}", re.IGNORECASE)


def hosts(url: str) -> list[tuple[str, int]]:
    """The servers a URL names, in order (port 5432 when none is given)."""
    netloc = urlsplit(_SCHEME.sub("postgresql://", url)).netloc.rpartition("@")[2]
    found = []
    for part in netloc.split(","):
        host, _, port = part.rpartition(":") if part.count(":") == 1 else (part, "", "")
        found.append((host or "localhost", int(port or 5432)))
    return found


def is_multi_host(url: str) -> bool:
    """Whether the URL names more than one server."""
    return len(hosts(url)) > 1


def sqlalchemy_url(url: str) -> str:
    """The URL for SQLAlchemy with the psycopg 3 driver."""
    if is_multi_host(url):
        parts = urlsplit(_SCHEME.sub("postgresql://", url))
        userinfo = parts.netloc.rpartition("@")[0]
        query = [("host", f"{h}:{p}") for h, p in hosts(url)] + parse_qsl(parts.query)
        prefix = f"{userinfo}@" if userinfo else ""
        return urlunsplit(("postgresql+psycopg", prefix, parts.path, urlencode(query), ""))
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The plain ``postgresql://`` URL that asyncpg, psql and GDAL understand."""
    if is_multi_host(url):
        return _SCHEME.sub("postgresql://", url)
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    if is_multi_host(url):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{database}"))
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def with_query(url: str, **params: str) -> str:
    """The URL with these query parameters set (e.g. ``target_session_attrs``)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def redacted(url: str) -> str:
    """The URL with its password hidden, for printing."""
    if is_multi_host(url):
        return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
    return make_url(url).render_as_string(hide_password=True)
