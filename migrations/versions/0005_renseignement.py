"""e-renseignement: requests for the official note, their review, and the notes issued.

* ``nru_requests``: one request — the plot (land-title reference) or a surveyed outline, the
  requester and capacity, the purpose, the moment the data is read at (``as_of``: the
  request's date, so the note is reproducible), the status and the agency's due date. The
  private tracking link carries a random token; only its SHA-256 is stored.
* ``nru_attachments``: pieces (ownership certificate, plan, mandate), stored outside the web
  root by content hash; type checked by content.
* ``nru_events``: every action, who and when (submitted, taken, piece asked/received,
  observation, refused, approved, signed, revoked, mail sent...).
* ``nru_notes``: the issued, signed PDFs (the bytes, their SHA-256, the JSON twin), with their
  status (valid, superseded by a later note, revoked with a reason).

Mail goes through the job queue (procrastinate's schema, applied by a later migration or at
start), never sent inside a request.

Revision ID: 0005_renseignement
Revises: 0004_history
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_renseignement"
down_revision: str | None = "0004_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER_ROLE = "geoportal_writer"
APP_ROLE = "geoportal_app"
STATUSES = ("submitted", "under_review", "waiting_requester", "ready_to_sign", "issued",
            "refused")
CAPACITIES = ("owner", "mandated", "notary", "architect", "other")

STATEMENTS = (
    "CREATE SEQUENCE nru_number_seq",
    f"""
    CREATE TABLE nru_requests (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      number text NOT NULL UNIQUE,
      token_hash text NOT NULL UNIQUE,
      status text NOT NULL DEFAULT 'submitted'
        CHECK (status IN ({", ".join(f"'{s}'" for s in STATUSES)})),
      parcel_ref text CHECK (parcel_ref IS NULL OR length(parcel_ref) BETWEEN 1 AND 64),
      outline geometry(MultiPolygon, 26191)
        CHECK (outline IS NULL OR (ST_IsValid(outline) AND NOT ST_IsEmpty(outline))),
      commune_code text,
      plan_refs text[] NOT NULL DEFAULT '{{}}',
      plan_approved boolean,
      requester_name text NOT NULL CHECK (length(requester_name) BETWEEN 1 AND 200),
      requester_id_number text NOT NULL CHECK (length(requester_id_number) BETWEEN 1 AND 32),
      requester_email text NOT NULL CHECK (length(requester_email) BETWEEN 3 AND 254),
      requester_phone text CHECK (requester_phone IS NULL OR length(requester_phone) <= 32),
      capacity text NOT NULL CHECK (capacity IN ({", ".join(f"'{c}'" for c in CAPACITIES)})),
      purpose text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 2000),
      language text NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'ar', 'en')),
      as_of timestamptz NOT NULL DEFAULT now(),
      submitted_at timestamptz NOT NULL DEFAULT now(),
      due_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      assigned_to text,
      client text,
      CONSTRAINT nru_requests_subject CHECK (parcel_ref IS NOT NULL OR outline IS NOT NULL)
    )""",
    "CREATE INDEX nru_requests_outline ON nru_requests USING gist (outline)",
    "CREATE INDEX nru_requests_queue ON nru_requests (status, submitted_at)",
    "CREATE INDEX nru_requests_commune ON nru_requests (commune_code)",
    "CREATE INDEX nru_requests_client ON nru_requests (client, submitted_at)",
    """
    CREATE TABLE nru_attachments (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      request_id bigint NOT NULL REFERENCES nru_requests (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('ownership', 'plan', 'mandate', 'outline', 'other')),
      filename text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
      media_type text NOT NULL,
      size_bytes bigint NOT NULL CHECK (size_bytes > 0),
      sha256 text NOT NULL CHECK (length(sha256) = 64),
      uploaded_at timestamptz NOT NULL DEFAULT now(),
      uploaded_by text NOT NULL
    )""",
    "CREATE INDEX nru_attachments_request ON nru_attachments (request_id)",
    """
    CREATE TABLE nru_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      request_id bigint NOT NULL REFERENCES nru_requests (id) ON DELETE CASCADE,
      at timestamptz NOT NULL DEFAULT now(),
      actor text NOT NULL,
      action text NOT NULL,
      status_before text,
      status_after text,
      detail jsonb NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX nru_events_request ON nru_events (request_id, at)",
    """
    CREATE TABLE nru_notes (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      request_id bigint NOT NULL REFERENCES nru_requests (id),
      number text NOT NULL UNIQUE,
      issued_at timestamptz NOT NULL DEFAULT now(),
      signer text NOT NULL,
      data_version text NOT NULL,
      pdf bytea NOT NULL,
      sha256 text NOT NULL UNIQUE CHECK (length(sha256) = 64),
      document jsonb NOT NULL,
      status text NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'superseded', 'revoked')),
      status_reason text,
      superseded_by bigint REFERENCES nru_notes (id)
    )""",
    "CREATE INDEX nru_notes_request ON nru_notes (request_id)",
    f"""
    DO $$
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{WRITER_ROLE}') THEN
        GRANT SELECT, INSERT, UPDATE ON nru_requests, nru_attachments, nru_notes
          TO {WRITER_ROLE};
        GRANT SELECT, INSERT ON nru_events TO {WRITER_ROLE};
        GRANT USAGE ON SEQUENCE nru_number_seq TO {WRITER_ROLE};
        -- the service records when an API key was last used (geoportal.core.auth)
        GRANT UPDATE (last_used_at) ON api_keys TO {WRITER_ROLE};
      END IF;
      -- Personal data: the read-only role of public reads sees none of it.
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        REVOKE ALL ON nru_requests, nru_attachments, nru_events, nru_notes FROM {APP_ROLE};
      END IF;
    END $$""",
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("nru_notes", "nru_events", "nru_attachments", "nru_requests"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP SEQUENCE IF EXISTS nru_number_seq")
