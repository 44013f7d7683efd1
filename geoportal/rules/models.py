"""The request and answer models of the rules lookup (documented in the OpenAPI)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

QueryKind = Literal["point", "parcel", "geometry"]


class RulesQuery(BaseModel):
    """One question: a point (any CRS), a land-title reference or a geometry, at a date."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: QueryKind
    x: float | None = Field(default=None, description="Easting or longitude of a point.")
    y: float | None = Field(default=None, description="Northing or latitude of a point.")
    crs: str | None = Field(default=None, description="CRS of the point or the geometry.")
    parcel: str | None = Field(default=None, description="Land-title reference, e.g. TF 12345/C.")
    geometry: dict[str, Any] | None = Field(default=None, description="A GeoJSON geometry.")
    at: dt.date | None = Field(default=None, description="Rules in force on this date.")
    data_at: dt.datetime | None = Field(
        default=None, description="The data as it stood at this moment (null: now).")
    with_geometry: bool = Field(default=False, description="Return the plot's geometry.")
    envelope: bool = Field(default=False, description="Compute the buildable envelope.")
    envelope_crs84: bool = Field(
        default=True, description="Envelope geometries in CRS84 (false: in EPSG:26191).")

    @classmethod
    def at_lonlat(cls, lon: float, lat: float, **options: Any) -> RulesQuery:
        """A point in WGS 84 longitude and latitude."""
        return cls(kind="point", x=lon, y=lat, crs="OGC:CRS84", **options)

    @classmethod
    def at_xy(cls, x: float, y: float, crs: str, **options: Any) -> RulesQuery:
        """A point in any supported CRS, easting (or longitude) first."""
        return cls(kind="point", x=x, y=y, crs=crs, **options)

    @classmethod
    def for_parcel(cls, ref: str, **options: Any) -> RulesQuery:
        """A registered plot by its land-title reference (spacing and case do not matter)."""
        return cls(kind="parcel", parcel=ref, **options)

    @classmethod
    def for_geometry(cls, geometry: dict[str, Any], crs: str = "OGC:CRS84",
                     **options: Any) -> RulesQuery:
        """A GeoJSON geometry (a surveyed plot, or a point), in CRS84 unless ``crs`` says."""
        return cls(kind="geometry", geometry=geometry, crs=crs, **options)


class Answer(BaseModel):
    """Base of the answer models: documented fields only, and stable field order."""

    model_config = ConfigDict(extra="ignore")


class Plot(Answer):
    """The plot the answer is about: a registered one, or the submitted geometry."""

    ref: str | None = Field(description="Land-title reference; null for a submitted geometry.")
    source: Literal["cadastre", "geometry"]
    area_m2: float = Field(description="Area in m², computed in EPSG:26191, 2 decimals.")
    geometry: dict[str, Any] | None = Field(
        default=None, description="GeoJSON in CRS84, only when asked with geometry=true."
    )


class Location(Answer):
    """The point the administrative areas were read at (inside the plot, or the one asked)."""

    lon: float
    lat: float
    x: float = Field(description="Easting in EPSG:26191 (m).")
    y: float = Field(description="Northing in EPSG:26191 (m).")


class AdminArea(Answer):
    """A préfecture, province or commune, with its French and Arabic names."""

    code: str
    kind: str
    name_fr: str
    name_ar: str | None = None


class AdminAreas(Answer):
    """The administrative areas of the place."""

    prefecture: AdminArea
    commune: AdminArea | None = None


PlanSituation = Literal["en vigueur", "en révision", "expiré", "à l'étude", "non encore approuvé"]


class PlanInfo(Answer):
    """A plan d'aménagement covering the place, and whether it applies on the date asked."""

    ref: str
    name: str
    name_ar: str | None = None
    status: str = Field(description="Status recorded in the plan register.")
    approval_date: dt.date | None = None
    valid_until: dt.date | None = None
    decree: str | None = None
    situation: PlanSituation = Field(description="What the plan is on the date asked.")
    applies: bool = Field(description="Whether its zones and rules are those of the answer.")


class ZoneRules(Answer):
    """The règlement of a zone: every column of the plan's rules for the zone code."""

    code: str
    label: str
    category: str
    affectation: str
    uses_allowed: list[str] = Field(default_factory=list)
    uses_forbidden: list[str] = Field(default_factory=list)
    cos: float | None = Field(default=None, description="Max built footprint / plot area.")
    cus: float | None = Field(default=None, description="Max floor area / plot area.")
    max_height_m: float | None = None
    max_levels: int | None = Field(default=None, description="Levels above ground (R+n: n).")
    setback_front_m: float | None = None
    setback_side_m: float | None = None
    setback_rear_m: float | None = None
    min_plot_area_m2: float | None = None
    min_frontage_m: float | None = None
    parking: str | None = None
    article: str


class ZoneShare(Answer):
    """A zone the plot touches, with the area and share of the plot in it."""

    plan_ref: str
    code: str
    label: str
    area_m2: float | None = Field(description="Area of the plot in the zone (null for a point).")
    pct: float | None = Field(description="Share of the plot in the zone, %.")
    rules: ZoneRules


class ServitudeHit(Answer):
    """A servitude overlapping the plot."""

    kind: str
    name: str
    effect: str
    max_height_m: float | None = None
    legal_ref: str | None = None
    text: str
    area_m2: float | None = Field(description="Area of the plot under the servitude.")
    pct: float | None


class ReservationHit(Answer):
    """A reservation for a public facility overlapping the plot."""

    plan_ref: str
    facility: str | None = None
    label: str
    area_m2: float | None
    pct: float | None


class PlannedRoad(Answer):
    """A planned road (voirie projetée) crossing the plot."""

    plan_ref: str
    label: str
    width_m: float | None
    area_m2: float | None
    pct: float | None


class RasterValue(Answer):
    """A value read from a raster layer over the place (e.g. flood hazard class)."""

    layer: str
    title: str
    at_point: float | None = Field(description="Value at the location point.")
    max: float | None = Field(description="Highest value over the plot (all touched cells).")
    label: str | None = Field(description="Meaning of the highest value.")


class DerivedFigure(Answer):
    """Buildable figures from one zone's coefficients over the part of the plot in it."""

    plan_ref: str
    zone: str
    area_m2: float | None = Field(description="Area of the plot in this zone.")
    cos: float | None
    cus: float | None
    max_footprint_m2: float | None = Field(description="COS × area in the zone.")
    max_floor_area_m2: float | None = Field(description="CUS × area in the zone.")
    max_height_m: float | None = None
    max_levels: int | None = None


class Figures(Answer):
    """Derived figures, per zone and summed over the plot."""

    by_zone: list[DerivedFigure]
    max_footprint_m2: float | None = Field(description="Sum of the zones' footprints.")
    max_floor_area_m2: float | None = Field(description="Sum of the zones' floor areas.")


class EnvelopeBoundary(Answer):
    """The plot's boundary by class, in metres: what each setback is measured from."""

    front_m: float = Field(description="Length facing a road or public space.")
    side_m: float
    rear_m: float


class EnvelopePart(Answer):
    """The envelope in one zone: the part of the plot in the zone, its setbacks and limits."""

    plan_ref: str
    zone: str
    plot_area_m2: float = Field(description="Area of the plot in this zone.")
    setback_front_m: float | None
    setback_side_m: float | None
    setback_rear_m: float | None
    area_m2: float = Field(description="Area of the envelope in this zone (after the "
                                       "setbacks, servitudes and reservations).")
    cos: float | None
    cus: float | None
    max_footprint_m2: float = Field(description="min(envelope area, COS × plot area in the "
                                                "zone).")
    max_floor_area_m2: float | None = Field(
        description="min(CUS × plot area in the zone, footprint × (levels + 1)).")
    max_height_m: float | None = Field(description="Highest allowed height in this part "
                                                   "(zone rule, lowered by height limits).")
    max_levels: int | None = Field(description="Levels above ground (R+n: n).")
    max_volume_m3: float | None = Field(
        description="The footprint placed under the highest parts first, times their height.")


class EnvelopePiece(Answer):
    """A piece of the envelope with one maximum height (for a 3D view: extrude it)."""

    plan_ref: str
    zone: str
    area_m2: float
    max_height_m: float | None
    limited_by: str | None = Field(description="The height-limit servitude that sets the "
                                               "height here; null: the zone's rule.")
    geometry: dict[str, Any] = Field(description="GeoJSON (Multi)Polygon, in the envelope's "
                                                 "crs.")


class EnvelopeCut(Answer):
    """A servitude or reservation that forbids building on part of the plot."""

    source: Literal["servitude", "reservation"]
    kind: str
    name: str
    plot_area_m2: float = Field(description="Area of the plot under it.")
    removed_m2: float = Field(description="Area it removes from the set-back envelope.")


class EnvelopeHeightLimit(Answer):
    """A servitude that limits the height over part of the plot."""

    name: str
    max_height_m: float
    plot_area_m2: float


class Envelope(Answer):
    """What can be built: the plot minus its setbacks and the servitudes that forbid
    building, per zone, with its area, footprint, heights, floor area and volume."""

    method: str = Field(description="How the envelope is computed, in words (French).")
    summary: str = Field(description="The envelope in one or two sentences (French).")
    buildable: bool = Field(description="Whether anything can be built (envelope not empty).")
    crs: str = Field(description="CRS of the geometries (CRS84 unless asked otherwise).")
    geometry: dict[str, Any] | None = Field(description="The envelope, a GeoJSON "
                                                        "MultiPolygon; null when empty.")
    area_m2: float
    max_footprint_m2: float
    max_floor_area_m2: float | None
    max_height_m: float | None
    max_levels: int | None
    max_volume_m3: float | None
    boundary: EnvelopeBoundary
    parts: list[EnvelopePart]
    pieces: list[EnvelopePiece]
    cuts: list[EnvelopeCut]
    height_limits: list[EnvelopeHeightLimit]


class RulesWarning(Answer):
    """Something the reader must know, in plain French."""

    code: str
    message: str


class RulesAnswer(Answer):
    """What rules apply here: the answer of ``/rules``."""

    query: RulesQuery
    date: dt.date = Field(description="Date of the answer (of the data read, for a moment "
                                      "of the past).")
    at: dt.date = Field(description="Date the rules are those in force on.")
    data_at: dt.datetime | None = Field(
        default=None, description="The moment the data was read at (`at` of the past: the "
                                  "end of that day in Casablanca); null: the current data.")
    data_version: str = Field(description="The data version read (at `data_at`).")
    plot: Plot | None = Field(description="Null when no registered plot is at the point.")
    location: Location
    admin: AdminAreas
    plans: list[PlanInfo]
    zones: list[ZoneShare] = Field(description="Every zone of the applicable plans touched.")
    study_zones: list[ZoneShare] = Field(
        default_factory=list, description="Zones of plans under study (not yet in force)."
    )
    servitudes: list[ServitudeHit]
    reservations: list[ReservationHit]
    planned_roads: list[PlannedRoad]
    rasters: list[RasterValue]
    figures: Figures
    envelope: Envelope | None = Field(
        default=None, description="The buildable envelope, when asked (`envelope=true`) for a "
                                  "plot.")
    warnings: list[RulesWarning]
    disclaimer: str


class BatchItem(BaseModel):
    """One plot or point of a batch: ``parcel``, or ``lon``/``lat``, or ``x``/``y``/``crs``."""

    model_config = ConfigDict(extra="forbid")

    parcel: str | None = None
    lon: float | None = None
    lat: float | None = None
    x: float | None = None
    y: float | None = None
    crs: str | None = None


class BatchRequest(BaseModel):
    """Up to the batch limit of plots or points, answered together."""

    model_config = ConfigDict(extra="forbid")

    items: list[BatchItem]
    envelope: bool = Field(default=False, description="Compute each plot's buildable "
                                                      "envelope.")
    at: str | None = Field(
        default=None, max_length=40,
        description="Rules in force on this date, from the data as it stood then (a date of "
                    "the past: its end in Casablanca; or an RFC 3339 date-time).")


class BatchError(Answer):
    """Why one item of a batch has no answer."""

    status: int
    code: str
    description: str


class BatchResult(Answer):
    """The answer, or the error, for one item of a batch (same order as asked)."""

    index: int
    answer: RulesAnswer | None = None
    error: BatchError | None = None


class BatchAnswer(Answer):
    """The answers of a batch."""

    data_version: str
    data_at: dt.datetime | None = Field(default=None, description="The moment the data was "
                                                                  "read at; null: now.")
    results: list[BatchResult]
