"""Vector tiles (OGC API Tiles, Mapbox Vector Tile) built by PostGIS, cached per data version."""
