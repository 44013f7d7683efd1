# The geoportal service image. The database runs in its own container (docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    GEOPORTAL_HOME=/var/lib/geoportal
# WeasyPrint (the printable note) needs Pango; fonts with Arabic glyphs for the names.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
      libharfbuzz-subset0 fonts-dejavu-core fonts-noto-core curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY pyproject.toml README.md alembic.ini pygeoapi-config.yml ./
COPY geoportal ./geoportal
COPY layers ./layers
COPY migrations ./migrations
# A plain (wheel) install: layers/, migrations/ and pygeoapi-config.yml travel inside the
# package as geoportal.resources; the build folder is removed afterwards.
RUN pip install . && cd / && rm -rf /build \
 && useradd --system --home /var/lib/geoportal geoportal \
 && mkdir -p /var/lib/geoportal/data && chown -R geoportal /var/lib/geoportal
WORKDIR /var/lib/geoportal
USER geoportal

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 CMD curl -fsS http://127.0.0.1:8000/health || exit 1
CMD ["sh", "-c", "geoportal migrate && geoportal demo --if-empty && geoportal serve --host 0.0.0.0 --port 8000 --workers ${GEOPORTAL_WORKERS:-2}"]
