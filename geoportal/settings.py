"""Configuration, validated once from the environment (prefix ``GEOPORTAL_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STORAGE_CRS = "EPSG:26191"
STORAGE_SRID = 26191


class Settings(BaseSettings):
    """Every setting of the service; environment variables override the defaults."""

    model_config = SettingsConfigDict(env_prefix="GEOPORTAL_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Any PostGIS; when unset the private cluster under `home` is used.",
    )
    home: Path = Field(default=PROJECT_ROOT / ".geoportal", description="Private state folder.")
    layers_dir: Path = Field(default=PROJECT_ROOT / "layers")
    data_dir: Path | None = Field(default=None, description="Rasters; default home/data.")
    db_port: int = Field(default=54329, ge=1024, le=65535)

    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    statement_timeout_ms: int = Field(default=15_000, ge=100)

    items_default_limit: int = Field(default=10, ge=1)
    items_max_limit: int = Field(default=10_000, ge=1)
    max_request_bytes: int = Field(default=5_000_000, ge=1024)

    public_url: str | None = Field(
        default=None, description="Base URL the service is reached at, when behind a proxy."
    )
    basemap_url: str | None = Field(
        default=None, description="Optional external base-map style URL for the viewer."
    )
    environment: str = Field(default="development")

    tiles_cache_mb: int = Field(default=64, ge=0, description="Tile cache per worker; 0 = off.")
    tiles_version_check_s: float = Field(
        default=1.0, ge=0, description="How long a read of the layers' data versions is reused."
    )
    tiles_max_age_s: int = Field(default=60, ge=0, description="Cache-Control max-age of tiles.")

    opendata_max_downloads: int = Field(
        default=4, ge=1, description="Whole-layer downloads served at once per worker (503 above)."
    )
    pygeoapi_config: Path = Field(
        default=PROJECT_ROOT / "pygeoapi-config.yml", description="pygeoapi's configuration."
    )

    # Database connections and roles (db)
    admin_database_url: str | None = Field(
        default=None,
        description="Role owning the schema, for migrate, import and demo; default: "
        "database_url when set, else the private cluster's owner role.",
    )
    db_connect_timeout_s: float = Field(default=3.0, gt=0, description="Connect timeout.")
    db_retry_max_s: float = Field(
        default=2.0, gt=0, description="Longest pause between reconnection attempts."
    )

    @model_validator(mode="after")
    def _limits_are_coherent(self) -> Settings:
        if self.items_default_limit > self.items_max_limit:
            raise ValueError("GEOPORTAL_ITEMS_DEFAULT_LIMIT must not exceed ITEMS_MAX_LIMIT")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("GEOPORTAL_POOL_MIN_SIZE must not exceed POOL_MAX_SIZE")
        return self

    @property
    def raster_dir(self) -> Path:
        """Folder holding the raster layers (GeoTIFF)."""
        return self.data_dir or self.home / "data"

    def resolved_database_url(self) -> str:
        """The database URL: the configured one, or the private cluster's."""
        if self.database_url:
            return self.database_url
        from geoportal.db.cluster import Cluster

        return Cluster(self).url()

    def resolved_admin_database_url(self) -> str:
        """The URL of the schema's owner: the configured one, else the service's own when
        set (an external database), else the private cluster's owner role."""
        if self.admin_database_url:
            return self.admin_database_url
        if self.database_url:
            return self.database_url
        from geoportal.db.cluster import Cluster

        return Cluster(self).admin_url()
