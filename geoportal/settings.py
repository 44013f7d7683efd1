"""Configuration, validated once from the environment (prefix ``GEOPORTAL_``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geoportal.core.resources import default_home, resource_path

_ORIGIN = re.compile(r"(https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?)(?:[/?#][^\s;,']*)?")


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, or None when it is not one."""
    match = _ORIGIN.fullmatch(url.strip())
    return match.group(1) if match else None


class Settings(BaseSettings):
    """Every setting of the service; environment variables override the defaults."""

    model_config = SettingsConfigDict(env_prefix="GEOPORTAL_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Any PostGIS; when unset the private cluster under `home` is used.",
    )
    home: Path = Field(default_factory=default_home, description="Private state folder.")
    layers_dir: Path = Field(default_factory=lambda: resource_path("layers"))
    data_dir: Path | None = Field(default=None, description="Rasters; default home/data.")
    db_port: int = Field(default=54329, ge=1024, le=65535)

    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    statement_timeout_ms: int = Field(default=15_000, ge=100)

    items_default_limit: int = Field(default=10, ge=1)
    items_max_limit: int = Field(default=10_000, ge=1)
    items_count_cap: int = Field(
        default=10_000, ge=0, description="numberMatched of a filtered request is counted up "
        "to this many matches (bounded work), else omitted; an unfiltered layer is exact.")
    max_request_bytes: int = Field(default=5_000_000, ge=1024)
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Time a client has to send its whole request body (408)."
    )
    cors_origins: list[str] = Field(
        default=["*"], description="Origins whose browser apps may call the API (CORS); [] = none."
    )

    public_url: str | None = Field(
        default=None, description="Base URL the service is reached at, when behind a proxy."
    )
    basemap_url: str | None = Field(
        default=None, description="Optional external base-map style URL for the viewer "
        "(http or https; its origin is allowed by the pages' Content Security Policy)."
    )
    basemap_extra_origins: list[str] = Field(
        default=[], description="Other origins (scheme://host[:port]) the external base map's "
        "style loads tiles, sprites or glyphs from, allowed by the pages' policy.")
    environment: str = Field(default="development")

    tiles_cache_mb: int = Field(default=64, ge=0, description="Tile cache per worker; 0 = off.")
    tiles_version_check_s: float = Field(
        default=1.0, ge=0, description="How long a read of the layers' data versions is reused."
    )
    tiles_max_age_s: int = Field(default=60, ge=0, description="Cache-Control max-age of tiles.")

    heavy_slots: int = Field(
        default=1, ge=1, description="Heavy requests (costly filters, streams, PDF, batches) "
        "running at once per worker; the others wait in a bounded queue."
    )
    heavy_slots_machine: int | None = Field(
        default=None, ge=0, description="Heavy requests running at once on the machine, all "
        "workers together (lock files in the home's run/heavy folder). Each keeps a core "
        "busy: by default half the cores, so that light requests keep the other half; "
        "0 = no machine-wide limit."
    )
    heavy_queue: int = Field(default=16, ge=0, description="Heavy requests that may wait.")
    heavy_wait_s: float = Field(default=20.0, gt=0, description="Longest wait for a slot (503).")
    heavy_per_client: int = Field(
        default=6, ge=1, description="Heavy requests one client may have running or waiting."
    )
    heavy_cost: float = Field(
        default=20_000.0, gt=0, description="Query-plan cost above which a request is heavy."
    )
    max_query_cost: float = Field(
        default=5_000_000.0, gt=0, description="Query-plan cost above which it is refused."
    )

    bulk_slots: int = Field(
        default=4, ge=0, description="Pages of features and tiles computed at once per worker "
        "(point questions — lookups, one feature, search — are never held); 0 = no limit."
    )
    bulk_queue: int = Field(default=256, ge=0, description="Bulk requests that may wait.")
    bulk_wait_s: float = Field(default=10.0, gt=0, description="Longest wait (then 503).")

    opendata_max_downloads: int = Field(
        default=4, ge=1, description="Whole-layer downloads served at once per worker (503 above)."
    )
    opendata_cache_mb: int = Field(
        default=2048, ge=0, description="Disk kept for built downloads (one file per layer, "
        "format, CRS and data version, served with a length and byte ranges); 0 = no cache, "
        "downloads are streamed without a length."
    )
    opendata_cache_dir: Path | None = Field(
        default=None, description="Where built downloads are kept; default data_dir/downloads."
    )
    pygeoapi_config: Path = Field(
        default_factory=lambda: resource_path("pygeoapi-config.yml"),
        description="pygeoapi's configuration.",
    )
    # pygeoapi (geoportal/catalogue): outbound callbacks and the work it may take on
    process_callback_hosts: str = Field(
        default="", description="Hosts (comma-separated) a process subscriber may be notified "
                                "at; empty: subscribers are refused, nothing is ever sent out."
    )
    process_callback_timeout_s: float = Field(default=3.0, gt=0, le=30)
    pygeoapi_workers: int = Field(
        default=4, ge=1, description="Threads running pygeoapi requests (its own, not the "
                                     "default executor's)."
    )
    pygeoapi_max_waiting: int = Field(
        default=32, ge=0, description="pygeoapi requests waiting for a thread before a 503."
    )

    # Database connections and roles (db)
    admin_database_url: str | None = Field(
        default=None,
        description="Role owning the schema, for migrate, import and demo; default: "
        "database_url when set, else the private cluster's owner role.",
    )
    write_database_url: str | None = Field(
        default=None,
        description="Role the service writes edits with (INSERT/UPDATE/DELETE on the editable "
        "layers); default: database_url when set, else the private cluster's writer role.",
    )
    write_pool_max_size: int = Field(default=8, ge=1, description="Connections for edits.")
    edit_require_if_match: bool = Field(
        default=True, description="PUT, PATCH and DELETE of a feature need If-Match (428 "
        "without): no edit overwrites another unseen. QGIS (3.30 to 3.44 at least) sends "
        "none; false lets it update and delete, last writer wins (each change still in the "
        "history).")
    db_connect_timeout_s: float = Field(default=3.0, gt=0, description="Connect timeout.")
    db_retry_max_s: float = Field(
        default=2.0, gt=0, description="Longest pause between reconnection attempts."
    )
    # Replicas (db.routing): reads on streaming replicas, writes and fresh reads on the primary
    replica_urls: str = Field(
        default="", description="Read replicas, comma-separated URLs (the service's read "
        "role); each may be a multi-host URL with target_session_attrs=prefer-standby. Empty: "
        "every read on database_url, as before (no routing at all); unset with the private "
        "cluster: its replicas (`geoportal db start --replicas N`).")
    read_your_writes_wait_s: float = Field(
        default=2.0, ge=0, description="After an edit, how long that client's reads wait for "
        "a replica to replay it before they are served by the primary.")

    # Operations (geoportal.ops, geoportal.core.observe): logs, metrics, proxy, backups
    log_format: Literal["plain", "json"] = Field(
        default="plain", description="Log lines as text, or one JSON object per line.")
    access_log: bool = Field(default=True, description="One log line per request.")
    metrics_enabled: bool = Field(default=True, description="Serve /metrics (Prometheus).")
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token /metrics asks for; unset: loopback clients "
        "only (behind the proxy, the forwarded client address counts).")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1", description="Proxies whose X-Forwarded-For/Proto are believed "
        "(uvicorn's --forwarded-allow-ips): the nginx in front, nobody else.")
    metrics_sample_s: float = Field(
        default=5.0, gt=0, description="How often each worker samples its pool and queue "
        "gauges in multiprocess mode (several workers).")
    backup_repo: Path | None = Field(
        default=None, description="pgBackRest repository of the private cluster; default "
        "home/backup/repo. Setting it (or backup_enabled) turns WAL archiving on.")
    backup_enabled: bool = Field(
        default=False, description="`geoportal db start` archives WAL to the pgBackRest "
        "repository (point-in-time recovery); `geoportal db backup` turns it on too.")
    backup_retention_full: int = Field(default=4, ge=1, description="Full backups kept.")

    @model_validator(mode="after")
    def _empty_token_is_no_token(self) -> Settings:
        # GEOPORTAL_METRICS_TOKEN= (empty, e.g. compose's ${VAR:-}) must not open /metrics
        # to any "Bearer " header: it means no token, loopback only.
        if self.metrics_token is not None and not self.metrics_token.get_secret_value().strip():
            self.metrics_token = None
        return self

    @model_validator(mode="after")
    def _limits_are_coherent(self) -> Settings:
        if self.items_default_limit > self.items_max_limit:
            raise ValueError("GEOPORTAL_ITEMS_DEFAULT_LIMIT must not exceed ITEMS_MAX_LIMIT")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("GEOPORTAL_POOL_MIN_SIZE must not exceed POOL_MAX_SIZE")
        return self

    @model_validator(mode="after")
    def _basemap_origins_are_origins(self) -> Settings:
        # They go into the Content Security Policy: nothing but scheme://host[:port].
        if self.basemap_url is not None and _origin(self.basemap_url) is None:
            raise ValueError("GEOPORTAL_BASEMAP_URL must be an http(s) URL")
        for origin in self.basemap_extra_origins:
            if _origin(origin) != origin.rstrip("/"):
                raise ValueError(f"GEOPORTAL_BASEMAP_EXTRA_ORIGINS: {origin!r} is not an "
                                 "origin such as https://tiles.example.ma")
        return self

    def external_origins(self) -> list[str]:
        """The origins the viewer's external base map loads from (none without one)."""
        if self.basemap_url is None:
            return []
        first = _origin(self.basemap_url)
        extra = [o.rstrip("/") for o in self.basemap_extra_origins]
        return list(dict.fromkeys([first, *extra] if first else extra))

    @property
    def raster_dir(self) -> Path:
        """Folder holding the raster layers (GeoTIFF)."""
        return self.data_dir or self.home / "data"

    @property
    def download_cache_dir(self) -> Path:
        """Folder of the built downloads (GeoJSON, CSV, GeoPackage, zipped Shapefile)."""
        return self.opendata_cache_dir or self.raster_dir / "downloads"

    # Accounts and keys (geoportal.core.auth): API keys in the database, optional JWTs.
    auth_cache_s: float = Field(
        default=30.0, ge=0, description="How long a verified API key is trusted without "
        "checking it again; a revoked key is refused within this time. 0 = every request."
    )
    auth_hash_threads: int = Field(
        default=2, ge=1, le=16, description="Threads verifying API keys (argon2) per worker."
    )
    auth_max_failures: int = Field(
        default=10, ge=1, description="Failed authentications a client may make in "
        "auth_failure_window_s before it is refused (429) until the window passes."
    )
    auth_failure_window_s: float = Field(default=60.0, gt=0)
    jwt_issuer: str | None = Field(
        default=None, description="Issuer (iss) of accepted JWT bearer tokens; unset = no JWT."
    )
    jwt_audience: str | None = Field(default=None, description="Required audience (aud).")
    jwt_jwks: str | None = Field(
        default=None, description="The issuer's public keys: a JWKS file path or inline JSON."
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="Or a JWKS URL fetched (and cached) at need; never implied."
    )
    jwt_role_claim: str = Field(
        default="role", description="Claim holding the role (dotted path; a string or a list)."
    )
    jwt_layers_claim: str = Field(
        default="layers", description="Claim listing an editor's layers (absent = all)."
    )
    jwt_algorithms: list[str] = Field(default=["RS256", "PS256", "ES256", "EdDSA"])
    jwt_leeway_s: float = Field(default=30.0, ge=0, description="Clock skew allowed (exp, nbf).")

    # The issued note (geoportal.renseignement): the agency's signing key, verification
    signing_key_path: Path | None = Field(
        default=None, description="The agency's signing key and certificate (PKCS#12); "
        "default home/signing/agency-signing.p12."
    )
    signing_passphrase: SecretStr | None = Field(
        default=None, description="Passphrase of the signing key's PKCS#12. Unset in "
        "development: one is generated beside the key (mode 0600); required otherwise."
    )
    verify_max_upload_bytes: int = Field(
        default=5_000_000, ge=1024, description="Largest PDF accepted by POST /verify/{number}."
    )

    @property
    def resolved_signing_key_path(self) -> Path:
        """Where the agency's signing key (PKCS#12) is kept."""
        return self.signing_key_path or self.home / "signing" / "agency-signing.p12"

    @model_validator(mode="after")
    def _jwt_is_complete(self) -> Settings:
        if self.jwt_issuer is None:
            return self
        if not self.jwt_audience:
            raise ValueError("GEOPORTAL_JWT_AUDIENCE is required with GEOPORTAL_JWT_ISSUER")
        if not (self.jwt_jwks or self.jwt_jwks_url):
            raise ValueError("GEOPORTAL_JWT_JWKS (file or JSON) or GEOPORTAL_JWT_JWKS_URL is "
                             "required with GEOPORTAL_JWT_ISSUER")
        weak = [a for a in self.jwt_algorithms if not a.startswith(("RS", "PS", "ES", "EdDSA"))]
        if weak:
            raise ValueError(f"GEOPORTAL_JWT_ALGORITHMS: only public-key algorithms, not {weak}")
        return self

    # e-renseignement (geoportal/renseignement): requests, review, deadlines
    nru_target_days: int = Field(
        default=10, ge=1, le=365, description="Days the agency aims to answer a request in "
        "(its due date is the submission plus these days)."
    )
    nru_staff_email: str | None = Field(
        default=None, description="Where the daily digest of overdue requests is sent; unset: "
        "no digest."
    )
    nru_requests_per_hour: int = Field(
        default=10, ge=1, description="Requests one client address may submit per hour (429)."
    )
    nru_attachment_max_bytes: int = Field(
        default=2_000_000, ge=1024, description="Largest attachment (PDF, JPEG, PNG)."
    )
    nru_outline_max_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest outline file (GeoJSON, zip, DXF)."
    )
    nru_files_dir: Path | None = Field(
        default=None, description="Attachments, by SHA-256, outside the web root; default "
        "home/renseignement."
    )

    # Outgoing mail (geoportal/jobs): through the job queue; nothing is sent when unset
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: mail waits.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = Field(default=None)
    smtp_password: SecretStr | None = Field(default=None)
    smtp_sender: str = Field(
        default="Agence urbaine de Casablanca <e-renseignement@auc.invalid>",
        description="From: of every mail."
    )
    smtp_tls: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls (port 587), ssl (465) or none (a local relay)."
    )
    smtp_timeout_s: float = Field(default=20.0, gt=0, le=300)
    mail_retry_min_s: float = Field(
        default=30.0, gt=0, description="First wait before sending again after a failure; "
        "doubled at each attempt up to mail_retry_max_s."
    )
    mail_retry_max_s: float = Field(default=3600.0, gt=0)
    worker_in_service: bool = Field(
        default=True, description="Run the job worker inside each service process (else run "
        "`geoportal worker` apart)."
    )
    worker_poll_s: float = Field(
        default=5.0, gt=0, description="Longest time a queued job waits to be noticed "
        "(LISTEN/NOTIFY wakes the worker at once)."
    )

    @property
    def nru_storage_dir(self) -> Path:
        """Folder of the e-renseignement attachments (outside the web root)."""
        return self.nru_files_dir or self.home / "renseignement"
