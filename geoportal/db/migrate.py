"""Run Alembic migrations from code and tell whether a database is at head."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from geoportal.core.resources import resource_path


def alembic_config(database_url: str) -> Config:
    """The project's Alembic configuration, pointed at that database."""
    config = Config()  # no alembic.ini needed: the service configures Alembic in code
    config.set_main_option("script_location", str(resource_path("migrations")))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database up to a revision."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Migrate the database down to a revision."""
    command.downgrade(alembic_config(database_url), revision)


@cache
def head_revision() -> str:
    """The newest revision the code knows (read once: /health asks on every call)."""
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    head = script.get_current_head()
    assert head is not None
    return head
