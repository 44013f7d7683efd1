"""e-renseignement: more than one private tracking link per request.

The tracking token is random and only its SHA-256 is kept, so a later mail (a missing piece
asked for) cannot repeat the first link: it carries a new one, recorded here, and every link
a requester was sent keeps working.

Revision ID: 0007_nru_links
Revises: 0006_jobs
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_nru_links"
down_revision: str | None = "0006_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "geoportal_writer"
APP_ROLE = "geoportal_app"

STATEMENTS = (
    """
    CREATE TABLE nru_links (
      token_hash text PRIMARY KEY CHECK (length(token_hash) = 64),
      request_id bigint NOT NULL REFERENCES nru_requests (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      reason text NOT NULL
    )""",
    "CREATE INDEX nru_links_request ON nru_links (request_id)",
    f"""
    DO $$
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
        GRANT SELECT, INSERT ON nru_links TO {WRITER_ROLE};
      END IF;
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        REVOKE ALL ON nru_links FROM {APP_ROLE};
      END IF;
    END $$""",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS nru_links")
