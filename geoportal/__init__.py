"""Geoportal and OGC API service for the Agence urbaine de Casablanca."""

__version__ = "0.1.0"
