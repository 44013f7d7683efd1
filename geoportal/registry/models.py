"""Typed models of a layer definition (``layers/*.yml``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENT = r"^[a-z_][a-z0-9_]{0,62}$"
PropertyType = Literal["string", "integer", "number", "boolean", "date", "datetime", "array"]
GeometryType = Literal[
    "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"
]


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a layer file must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceField(Strict):
    """Where a property comes from in the agency's files (import)."""

    field: str
    type: PropertyType | None = None


class ImportPolicy(Strict):
    """How ``geoportal import`` treats the agency's files for this layer."""

    invalid: Literal["repair", "reject"] = "repair"
    id_field: str | None = Field(
        default=None, description="Source field holding the feature id; else ids are numbered."
    )


class LayerProperty(Strict):
    """One published attribute of a layer."""

    name: str = Field(pattern=IDENT)
    column: str | None = Field(default=None, pattern=IDENT)
    type: PropertyType = "string"
    title: str
    description: str | None = None
    queryable: bool = False
    in_tiles: bool = False
    required: bool = False
    read_only: bool = Field(
        default=False, description="Kept by the database (computed, stamped): ignored in the "
        "bodies of edits; a column with a default gets it again on every change.")
    values: list[str] | None = Field(
        default=None, min_length=1, description="The only values allowed (an enumeration).")
    source: SourceField | None = None

    @model_validator(mode="after")
    def _values_are_strings(self) -> LayerProperty:
        if self.values is not None and self.type != "string":
            raise ValueError(f"values: an enumeration needs type string, not {self.type}")
        if self.read_only and self.required:
            raise ValueError("a read_only property cannot be required (clients do not send it)")
        return self

    @property
    def column_name(self) -> str:
        """The table column behind the property (its name unless stated)."""
        return self.column or self.name


class LegendEntry(Strict):
    """One class of a categorised style."""

    value: str
    label: str
    color: str


class LayerStyle(Strict):
    """The default style of the layer on the map."""

    kind: Literal["fill", "line", "circle"] = "fill"
    color: str = "#3388ff"
    outline: str | None = None
    opacity: float = Field(default=0.5, ge=0, le=1)
    width: float = Field(default=1.0, ge=0)
    hatched: bool = False
    by: str | None = None
    classes: list[LegendEntry] = Field(default_factory=list)
    label: str | None = Field(default=None, description="Property that labels features.")

    @field_validator("color", "outline")
    @classmethod
    def _is_hex_colour(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError(f"{value!r} is not a colour like #aabbcc")
        return value


class Temporal(Strict):
    """The column that carries the layer's time, for ``datetime`` filters."""

    column: str = Field(pattern=IDENT)


class Layer(Strict):
    """A published layer: a collection of the OGC API and a layer of the map."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    title: str
    title_ar: str | None = None
    description: str
    table: str = Field(pattern=IDENT)
    id_column: str = Field(default="id", pattern=IDENT)
    geometry_column: str = Field(default="geom", pattern=IDENT)
    geometry_type: GeometryType
    properties: list[LayerProperty]
    temporal: Temporal | None = None
    license: str
    attribution: str = "Agence urbaine de Casablanca (données de démonstration synthétiques)"
    keywords: list[str] = Field(default_factory=list)
    min_zoom: int = Field(default=0, ge=0, le=24)
    max_zoom: int = Field(default=22, ge=0, le=24)
    style: LayerStyle = Field(default_factory=LayerStyle)
    order: int = 100
    editable: bool = False
    ingest: ImportPolicy = Field(default_factory=ImportPolicy, alias="import")

    @model_validator(mode="after")
    def _consistent(self) -> Layer:
        names = [p.name for p in self.properties]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"properties named twice: {sorted(duplicates)}")
        if self.style.by is not None and self.style.by not in names:
            raise ValueError(f"style.by names {self.style.by!r}, which is not a property")
        if self.style.label is not None and self.style.label not in names:
            raise ValueError(f"style.label names {self.style.label!r}, which is not a property")
        if self.min_zoom > self.max_zoom:
            raise ValueError("min_zoom is greater than max_zoom")
        return self

    def find_property(self, name: str) -> LayerProperty | None:
        """The property with that published name, if any."""
        return next((p for p in self.properties if p.name == name), None)

    @property
    def polygonal(self) -> bool:
        """Whether the layer holds polygons (areas, labels on their surface)."""
        return self.geometry_type in ("Polygon", "MultiPolygon")

    @property
    def label_layer_id(self) -> str:
        """The name of the label-point layer of a polygon layer in the viewer's tile."""
        return f"{self.id}_labels"

    @property
    def queryables(self) -> list[LayerProperty]:
        """The properties that filters and sorting may use."""
        return [p for p in self.properties if p.queryable]
