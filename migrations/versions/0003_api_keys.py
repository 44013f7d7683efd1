"""API keys: who may write, with which role and on which layers (geoportal.core.auth).

Only the key's first eight characters (for lookup and display) and its argon2 hash are
stored. Names are unique among active keys, so a key can be rotated under the same name;
prefixes are unique for ever, so ``keys revoke PREFIX`` names one key.

Revision ID: 0003_api_keys
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_api_keys"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("editor", "instructeur", "signataire", "admin")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("layers", sa.ARRAY(sa.Text()), nullable=True),  # NULL = every layer
        sa.Column("key_prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 100", name="api_keys_name_length"),
        sa.CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")",
                           name="api_keys_role_known"),
        sa.CheckConstraint("layers IS NULL OR role = 'editor'", name="api_keys_layers_editor"),
        sa.CheckConstraint("length(key_prefix) = 8", name="api_keys_prefix_length"),
        sa.CheckConstraint("key_hash LIKE '$argon2%'", name="api_keys_hash_argon2"),
        sa.UniqueConstraint("key_prefix", name="api_keys_prefix_unique"),
    )
    op.create_index("api_keys_active_name", "api_keys", ["name"], unique=True,
                    postgresql_where=sa.text("revoked_at IS NULL"))


def downgrade() -> None:
    op.drop_table("api_keys")
