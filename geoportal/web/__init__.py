"""The web geoportal: a MapLibre map on the service's own vector tiles, in French."""
