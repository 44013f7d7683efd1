"""Initial schema: planning layers in EPSG:26191, GiST indexes, layer version counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


VERSIONED_TABLES = (
    "prefectures",
    "communes",
    "plans",
    "zone_rules",
    "zoning",
    "servitudes",
    "reservations",
    "roads",
    "parcels",
)

BUMP_FUNCTION = """
CREATE OR REPLACE FUNCTION geoportal_bump_layer_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO layer_versions (table_name, version, updated_at)
  VALUES (TG_TABLE_NAME, 1, now())
  ON CONFLICT (table_name)
  DO UPDATE SET version = layer_versions.version + 1, updated_at = now();
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "layer_versions",
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="1", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("table_name"),
    )
    op.create_table(
        "parcels",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column(
            "ref_norm",
            sa.Text(),
            sa.Computed("upper(regexp_replace(ref, '\\s+', '', 'g'))", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "area_m2",
            sa.Float(),
            sa.Computed("round(ST_Area(geom)::numeric, 2)::double precision", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=26191,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="parcels_geom_valid"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref_norm"),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_ar", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approval_date", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("decree", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=26191,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('en vigueur', 'en révision', 'à l''étude', 'expiré')",
            name="plans_status_known",
        ),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="plans_geom_valid"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_table(
        "prefectures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name_fr", sa.Text(), nullable=False),
        sa.Column("name_ar", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=26191,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="prefectures_geom_valid"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "roads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("road_class", sa.String(length=16), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTILINESTRING",
                srid=26191,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "servitudes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("effect", sa.Text(), nullable=False),
        sa.Column("max_height_m", sa.Float(), nullable=True),
        sa.Column("legal_ref", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=26191,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="servitudes_geom_valid"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "communes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name_fr", sa.Text(), nullable=False),
        sa.Column("name_ar", sa.Text(), nullable=True),
        sa.Column("prefecture_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=26191,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="communes_geom_valid"),
        sa.ForeignKeyConstraint(["prefecture_id"], ["prefectures.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("facility", sa.String(length=32), nullable=True),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("width_m", sa.Float(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=26191,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("kind <> 'voirie' OR width_m > 0", name="reservations_road_width"),
        sa.CheckConstraint("kind IN ('equipement', 'voirie')", name="reservations_kind_known"),
        sa.CheckConstraint(
            "ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="reservations_geom_valid"
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_reservations_plan_id"), "reservations", ["plan_id"], unique=False)
    op.create_table(
        "zone_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("affectation", sa.Text(), nullable=False),
        sa.Column("uses_allowed", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("uses_forbidden", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("cos", sa.Float(), nullable=True),
        sa.Column("cus", sa.Float(), nullable=True),
        sa.Column("max_height_m", sa.Float(), nullable=True),
        sa.Column("max_levels", sa.Integer(), nullable=True),
        sa.Column("setback_front_m", sa.Float(), nullable=True),
        sa.Column("setback_side_m", sa.Float(), nullable=True),
        sa.Column("setback_rear_m", sa.Float(), nullable=True),
        sa.Column("min_plot_area_m2", sa.Float(), nullable=True),
        sa.Column("min_frontage_m", sa.Float(), nullable=True),
        sa.Column("parking", sa.Text(), nullable=True),
        sa.Column("article", sa.Text(), nullable=False),
        sa.CheckConstraint("cos IS NULL OR (cos >= 0 AND cos <= 1)", name="zone_rules_cos_range"),
        sa.CheckConstraint("cus IS NULL OR cus >= 0", name="zone_rules_cus_range"),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "code", name="zone_rules_plan_code_key"),
    )
    op.create_table(
        "zoning",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=26191,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="zoning_geom_valid"),
        sa.ForeignKeyConstraint(
            ["plan_id", "code"],
            ["zone_rules.plan_id", "zone_rules.code"],
            name="zoning_rules_fkey",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_zoning_plan_id"), "zoning", ["plan_id"], unique=False)
    op.execute(BUMP_FUNCTION)
    for table in VERSIONED_TABLES:
        op.execute(f"INSERT INTO layer_versions (table_name) VALUES ('{table}')")
        op.execute(
            f"CREATE TRIGGER {table}_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION geoportal_bump_layer_version()"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_zoning_plan_id"), table_name="zoning")
    op.drop_table("zoning")
    op.drop_table("zone_rules")
    op.drop_index(op.f("ix_reservations_plan_id"), table_name="reservations")
    op.drop_table("reservations")
    op.drop_table("communes")
    op.drop_table("servitudes")
    op.drop_table("roads")
    op.drop_table("prefectures")
    op.drop_table("plans")
    op.drop_table("parcels")
    op.drop_table("layer_versions")
    op.execute("DROP FUNCTION IF EXISTS geoportal_bump_layer_version()")
