"""Typed models of a layer definition (``layers/*.yml``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IDENT = r"^[a-z_][a-z0-9_]{0,62}$"
ColumnName = Annotated[str, Field(pattern=IDENT)]
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
    refers_to: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_-]{0,62}$",
        description="Layer id whose natural key the field holds (e.g. a préfecture's code); "
                    "the column gets that feature's id.",
    )


class ImportPolicy(Strict):
    """How ``geoportal import`` treats the agency's files for this layer."""

    invalid: Literal["repair", "reject"] = "repair"
    id_field: str | None = Field(
        default=None,
        description="Source field holding the database id, to match features of a layer "
                    "without a natural key; else such a layer is replaced whole.",
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
    # A table without geometry (e.g. the règlement of each zone) omits geometry_type.
    geometry_column: str | None = Field(default="geom", pattern=IDENT)
    geometry_type: GeometryType | None = None
    properties: list[LayerProperty]
    natural_key: list[ColumnName] | None = Field(
        default=None, min_length=1,
        description="Columns that name a feature in the agency's terms (unique in the table): "
                    "imports match features on them and keep their ids.",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _no_geometry_no_column(cls, raw: Any) -> Any:
        """A layer without ``geometry_type`` has no geometry column either."""
        if isinstance(raw, dict) and raw.get("geometry_type") is None:
            if raw.get("geometry_column") is not None:
                raise ValueError("geometry_column is given but geometry_type is not: "
                                 "a layer with a geometry column names its geometry type")
            return {**raw, "geometry_column": None}
        return raw

    @model_validator(mode="after")
    def _consistent(self) -> Layer:
        if self.geometry_type is not None and self.geometry_column is None:
            raise ValueError("geometry_column is null but geometry_type is given")
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
        if self.natural_key is not None:
            if len(set(self.natural_key)) != len(self.natural_key):
                raise ValueError(f"natural_key {self.natural_key} names a column twice")
            if self.ingest.id_field is not None:
                raise ValueError("natural_key and import.id_field both say how an import "
                                 "matches features: keep one")
        return self

    def find_property(self, name: str) -> LayerProperty | None:
        """The property with that published name, if any."""
        return next((p for p in self.properties if p.name == name), None)

    @property
    def has_geometry(self) -> bool:
        """Whether the layer's features have a geometry (else a table of attributes)."""
        return self.geometry_column is not None

    @property
    def spatial_column(self) -> str:
        """The geometry column, for layers with geometry (check ``has_geometry`` first)."""
        if self.geometry_column is None:
            raise ValueError(f"layer {self.id!r} has no geometry")
        return self.geometry_column

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


class RasterRule(Strict):
    """How the rules answer reads a raster layer: from which class it warns, and how."""

    warn_from: int = Field(description="A highest class at or above this gives a warning.")
    high_from: int | None = Field(
        default=None, description="At or above this class, the level is this class's label "
                                  "(values beyond the declared classes included).")
    warning: str = Field(description="The French warning; {level}, {where} and {value} are "
                                     "replaced (e.g. 'moyen', 'sur la parcelle', '2').")

    @field_validator("warning")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        try:
            value.format(level="", where="", value="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{level}}, {{where}} and {{value}} may be used: {exc}") \
                from None
        return value


class RasterLayer(Strict):
    """A raster layer (``kind: raster``): a GeoTIFF of the data folder, in the storage CRS,
    whose integer cells are classes; sampled by the rules, published as open data and as a
    coverage."""

    kind: Literal["raster"]
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    title: str
    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.tif{1,2}$",
                      description="The file's name in the data folder (GEOPORTAL_DATA_DIR).")
    classes: dict[int, str] = Field(min_length=1)
    license: str = "ODbL-1.0"
    rules: RasterRule | None = None

    @model_validator(mode="after")
    def _rule_names_classes(self) -> RasterLayer:
        if self.rules is not None and self.rules.high_from is not None \
                and self.rules.high_from not in self.classes:
            raise ValueError(f"rules.high_from {self.rules.high_from} is not one of the classes")
        return self

    def warning(self, highest: float, label: str | None, where: str) -> str | None:
        """The rules' warning for this highest value over a place, if it calls for one."""
        rule = self.rules
        if rule is None or highest < rule.warn_from:
            return None
        if rule.high_from is not None and highest >= rule.high_from:
            level = self.classes[rule.high_from]
        else:
            level = label or "présent"
        return rule.warning.format(level=level, where=where, value=f"{highest:g}")
