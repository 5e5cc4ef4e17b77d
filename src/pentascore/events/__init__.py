"""Events: the typed vocabulary of what pentascore reads, and how files become valid rows."""

from pentascore.events.schema import (
    EVENT_MODELS,
    EVENT_TYPES,
    FIELDS,
    LAKE_SCHEMA,
    PII_FIELDS,
    Event,
    EventType,
    FieldSpec,
    TypeSpec,
    example_event,
)

__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "FIELDS",
    "LAKE_SCHEMA",
    "PII_FIELDS",
    "Event",
    "EventType",
    "FieldSpec",
    "TypeSpec",
    "example_event",
]
