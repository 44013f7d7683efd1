"""The data model: planning layers stored in EPSG:26191 (Merchich / Nord Maroc)."""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geoportal.core.area import STORAGE_SRID


def geometry(kind: str) -> Geometry:
    """A geometry column in the storage CRS with a GiST index."""
    return Geometry(kind, srid=STORAGE_SRID, spatial_index=True)


def valid_geometry(table: str) -> CheckConstraint:
    """Geometries must be valid and non-empty: areas are computed from them."""
    return CheckConstraint(
        "ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name=f"{table}_geom_valid"
    )


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Prefecture(Base):
    """A préfecture or province of the AUC area."""

    __tablename__ = "prefectures"
    __table_args__ = (valid_geometry("prefectures"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # préfecture | province | commune
    name_fr: Mapped[str] = mapped_column(Text)
    name_ar: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class Commune(Base):
    """A commune or arrondissement, inside one préfecture or province."""

    __tablename__ = "communes"
    __table_args__ = (valid_geometry("communes"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # commune | arrondissement | préfecture d'arr.
    name_fr: Mapped[str] = mapped_column(Text)
    name_ar: Mapped[str | None] = mapped_column(Text)
    prefecture_id: Mapped[int] = mapped_column(ForeignKey("prefectures.id", ondelete="CASCADE"))
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class Plan(Base):
    """A plan d'aménagement: a planning document over a sector."""

    __tablename__ = "plans"
    __table_args__ = (
        valid_geometry("plans"),
        CheckConstraint(
            "status IN ('en vigueur', 'en révision', 'à l''étude', 'expiré')",
            name="plans_status_known",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    name_ar: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    approval_date: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    decree: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class ZoneRule(Base):
    """The règlement of one zone code in one plan."""

    __tablename__ = "zone_rules"
    __table_args__ = (
        UniqueConstraint("plan_id", "code", name="zone_rules_plan_code_key"),
        CheckConstraint("cos IS NULL OR (cos >= 0 AND cos <= 1)", name="zone_rules_cos_range"),
        CheckConstraint("cus IS NULL OR cus >= 0", name="zone_rules_cus_range"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    affectation: Mapped[str] = mapped_column(Text)
    uses_allowed: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    uses_forbidden: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    cos: Mapped[float | None] = mapped_column(Float)
    cus: Mapped[float | None] = mapped_column(Float)
    max_height_m: Mapped[float | None] = mapped_column(Float)
    max_levels: Mapped[int | None] = mapped_column(Integer)
    setback_front_m: Mapped[float | None] = mapped_column(Float)
    setback_side_m: Mapped[float | None] = mapped_column(Float)
    setback_rear_m: Mapped[float | None] = mapped_column(Float)
    min_plot_area_m2: Mapped[float | None] = mapped_column(Float)
    min_frontage_m: Mapped[float | None] = mapped_column(Float)
    parking: Mapped[str | None] = mapped_column(Text)
    article: Mapped[str] = mapped_column(Text)


class Zone(Base):
    """A zone polygon of a plan; its rules are the plan's rules for its code."""

    __tablename__ = "zoning"
    __table_args__ = (
        valid_geometry("zoning"),
        ForeignKeyConstraint(
            ["plan_id", "code"], ["zone_rules.plan_id", "zone_rules.code"],
            name="zoning_rules_fkey", ondelete="CASCADE",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class Servitude(Base):
    """An overlay that restricts the zones under it (flood, coast, airport, heritage...)."""

    __tablename__ = "servitudes"
    __table_args__ = (valid_geometry("servitudes"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    effect: Mapped[str] = mapped_column(Text)
    max_height_m: Mapped[float | None] = mapped_column(Float)
    legal_ref: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class Reservation(Base):
    """Land reserved by a plan for a public facility or a planned road (voirie projetée)."""

    __tablename__ = "reservations"
    __table_args__ = (
        valid_geometry("reservations"),
        CheckConstraint("kind IN ('equipement', 'voirie')", name="reservations_kind_known"),
        CheckConstraint("kind <> 'voirie' OR width_m > 0", name="reservations_road_width"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    facility: Mapped[str | None] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(Text)
    width_m: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class Road(Base):
    """An existing road, for the base map."""

    __tablename__ = "roads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    road_class: Mapped[str] = mapped_column(String(16))
    geom = mapped_column(geometry("MULTILINESTRING"), nullable=False)


class Parcel(Base):
    """A plot; ``ref`` is its land-title reference (titre foncier), e.g. ``TF 12345/C``."""

    __tablename__ = "parcels"
    __table_args__ = (valid_geometry("parcels"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ref: Mapped[str] = mapped_column(Text)
    ref_norm: Mapped[str] = mapped_column(
        Text, Computed("geoportal_ref_norm(ref)", persisted=True), unique=True
    )
    area_m2: Mapped[float] = mapped_column(
        Float, Computed("round(ST_Area(geom)::numeric, 2)::double precision", persisted=True)
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    geom = mapped_column(geometry("MULTIPOLYGON"), nullable=False)


class LayerVersion(Base):
    """A counter per table, bumped by a trigger on every change: ETags and tile caches."""

    __tablename__ = "layer_versions"
    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


VERSIONED_TABLES = (
    "prefectures", "communes", "plans", "zone_rules", "zoning", "servitudes",
    "reservations", "roads", "parcels",
)
