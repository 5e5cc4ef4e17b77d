from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from pentascore.events.schema import (
    EVENT_MODELS,
    EVENT_TYPES,
    FIELD_BY_NAME,
    FIELDS,
    LAKE_SCHEMA,
    Event,
    EventType,
    example_event,
)

ADAPTER: TypeAdapter[object] = TypeAdapter(Event)


def test_there_are_13_event_types_each_with_a_model() -> None:
    assert len(EventType) == 13
    assert set(EVENT_MODELS) == set(EventType) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_example_is_a_valid_event_of_its_type(event_type: EventType) -> None:
    event = ADAPTER.validate_python(example_event(event_type))
    assert type(event) is EVENT_MODELS[event_type]


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_field_a_type_names_exists_and_choices_are_defined(event_type: EventType) -> None:
    spec = EVENT_TYPES[event_type]
    for name in spec.fields:
        field = FIELD_BY_NAME[name]
        if field.kind == "choice" and name != "type":
            assert field.choices_for(event_type), f"{name} has no choices for {event_type}"
    for when_field, when_value, name in spec.required_when:
        assert when_value in FIELD_BY_NAME[when_field].choices_for(event_type)
        assert name in spec.fields


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ADAPTER.validate_python({**example_event(EventType.PAYMENT), "tip": 5})


def test_fields_of_another_type_are_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        ADAPTER.validate_python(
            {**example_event(EventType.PAYMENT), "due_ts": "2026-01-01T00:00:00Z"}
        )


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        ADAPTER.validate_python({**example_event(EventType.CHARITY), "ts": "2026-01-01T00:00:00"})


def test_required_when_and_currency_rules() -> None:
    event = example_event(EventType.VERIFICATION)
    del event["national_id"]
    with pytest.raises(ValidationError, match="national_id: required"):
        ADAPTER.validate_python(event)
    charity = {**example_event(EventType.CHARITY)}
    del charity["currency"]
    with pytest.raises(ValidationError, match="currency: required with any amount"):
        ADAPTER.validate_python(charity)


def test_a_void_correction_needs_only_what_it_supersedes() -> None:
    void = {
        "event_id": "v1",
        "user_id": "U1",
        "type": "bill",
        "ts": "2026-01-01T00:00:00Z",
        "void": True,
        "supersedes": "ev-1",
    }
    assert ADAPTER.validate_python(void).void is True  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="supersedes: required when void"):
        ADAPTER.validate_python({**void, "supersedes": None})


def test_lake_schema_has_every_field_then_the_batch_columns() -> None:
    assert LAKE_SCHEMA.names == [f.name for f in FIELDS] + ["batch_id", "ingested_at"]
    assert str(LAKE_SCHEMA.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(LAKE_SCHEMA.field("amount").type) == "int64"


def test_docs_events_md_is_generated_from_the_schema() -> None:
    from pathlib import Path

    from pentascore.events.docs import render_events_doc

    doc = Path(__file__).resolve().parents[2] / "docs" / "events.md"
    assert doc.read_text() == render_events_doc(), (
        "docs/events.md is stale: run python -m pentascore.events.docs > docs/events.md"
    )
    for event_type in EventType:
        assert f"### {event_type.value}" in doc.read_text()
