"""Alembic environment: the URL comes from the same settings object as the service."""

from alembic import context
from sqlalchemy import create_engine, pool

from geoportal.db.models import Base
from geoportal.db.urls import resolve_admin_database_url, sqlalchemy_url
from geoportal.settings import Settings

config = context.config
# Migrations run as the schema's owner (GEOPORTAL_ADMIN_DATABASE_URL, or the private
# cluster's owner role; the service's own URL when only that one is given).
url = config.attributes.get("database_url") or resolve_admin_database_url(Settings())


def include_object(obj, name, type_, reflected, compare_to):
    """Leave PostGIS's own tables alone when comparing."""
    return not (type_ == "table" and name in {"spatial_ref_sys"})


if context.is_offline_mode():
    context.configure(url=sqlalchemy_url(url), target_metadata=Base.metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
