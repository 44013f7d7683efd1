"""The layer registry: one YAML file per published layer, validated into typed models."""

from geoportal.registry.loader import LayerRegistry, RegistryError, load_registry
from geoportal.registry.models import Layer, LayerProperty, RasterLayer

__all__ = ["Layer", "LayerProperty", "LayerRegistry", "RasterLayer", "RegistryError",
           "load_registry"]
