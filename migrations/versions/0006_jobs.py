"""The job queue in PostgreSQL: procrastinate's schema (outgoing mail, periodic digests).

The SQL is read from the installed procrastinate (pinned in pyproject.toml), so the schema
is exactly the one its worker expects. When the pin moves to a release that changes the
schema, a new migration applies procrastinate's own migration files for that step
(``procrastinate/sql/migrations``), in order.

Jobs are written by the service's writer role (in the same transaction as what they are
about, so an acknowledged request always has its mail queued) and run by the worker with the
same role; the read-only role sees none of it (mail carries personal data).

Revision ID: 0006_jobs
Revises: 0005_renseignement
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0006_jobs"
down_revision: str | None = "0005_renseignement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "geoportal_writer"
APP_ROLE = "geoportal_app"
TABLES = ("procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers",
          "procrastinate_workers")

GRANTS = f"""
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(TABLES)} TO {WRITER_ROLE};
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {WRITER_ROLE};
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    REVOKE ALL ON {", ".join(TABLES)} FROM {APP_ROLE};
  END IF;
END $$
"""

DROP_ALL = """
DO $$
DECLARE
  item record;
BEGIN
  FOR item IN SELECT tablename FROM pg_tables
              WHERE schemaname = 'public' AND tablename LIKE 'procrastinate\\_%' LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
  END LOOP;
  FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
              JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate\\_%' LOOP
    EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', item.signature);
  END LOOP;
  FOR item IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE n.nspname = 'public' AND t.typname LIKE 'procrastinate\\_%'
                AND t.typtype IN ('e', 'c') LOOP
    EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
  END LOOP;
END $$
"""


def upgrade() -> None:
    # Several statements and no parameters: given to psycopg as is (no placeholder parsing),
    # in the migration's transaction.
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute(SchemaManager.get_schema())
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(DROP_ALL)
