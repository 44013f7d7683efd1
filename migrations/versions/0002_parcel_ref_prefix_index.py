"""Prefix search on land-title references: a text_pattern_ops index on parcels.ref_norm.

The unique index on ref_norm uses the database collation, which cannot serve
``LIKE 'TF12%'`` unless the collation is "C"; this one can, whatever the collation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS parcels_ref_norm_prefix ON parcels (ref_norm text_pattern_ops)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS parcels_ref_norm_prefix")
