"""Features: point-in-time, per-person numbers for the five dimensions, written once."""

from pentascore.features.catalog import CATALOG, FEATURES_BY_NAME
from pentascore.features.spec import Direction, FeatureSpec, Relation

__all__ = ["CATALOG", "FEATURES_BY_NAME", "Direction", "FeatureSpec", "Relation"]
