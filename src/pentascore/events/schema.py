"""The event vocabulary, written once as data.

`FIELDS` describes every column an event may carry and `EVENT_TYPES` says which fields each of
the 13 event types requires or allows. Everything else is derived from these two tables:

- `LAKE_SCHEMA`, the Arrow schema of the lake;
- `EVENT_MODELS` / `Event`, one pydantic model per type in a union discriminated on ``type``,
  for validating single events at the edges (HTTP, tests);
- the vectorized checks of the bulk ingest path (`pentascore.events.validate`);
- ``docs/events.md`` (`render_events_doc`).

Money is integer minor units with an ISO 4217 currency code; timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    create_model,
    model_validator,
)
from pydantic import Field as PydField

from pentascore.core.types import Dimension


class EventType(StrEnum):
    BILL = "bill"
    CREDIT_LINE = "credit_line"
    SERVICE_FULFILLMENT = "service_fulfillment"
    PAYMENT = "payment"
    TRANSFER = "transfer"
    UTILITY_PAYMENT = "utility_payment"
    CHARITY = "charity"
    ASSET_SNAPSHOT = "asset_snapshot"
    VERIFICATION = "verification"
    PROFILE_CHANGE = "profile_change"
    SOCIAL_LINK = "social_link"
    SECURITY_EVENT = "security_event"
    INQUIRY = "inquiry"


FieldKind = Literal["id", "string", "int", "money", "timestamp", "bool", "choice", "currency"]

# Common ISO 4217 codes. A platform with another currency adds it here; an unknown code is far
# more often a typo ("RMB", "usd") than a real currency, so it is rejected.
_ISO_4217 = """AED ARS AUD BDT BRL CAD CHF CLP CNY COP CZK DKK EGP EUR GBP HKD HUF IDR ILS INR IRR
JPY KES KRW KZT MAD MXN MYR NGN NOK NZD PEN PHP PKR PLN QAR RON RUB SAR SEK SGD THB TRY TWD UAH
USD VND ZAR"""
CURRENCIES: frozenset[str] = frozenset(_ISO_4217.split())

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$"
ID_MAX_LENGTH = 128
TEXT_MAX_LENGTH = 512


@dataclass(frozen=True)
class FieldSpec:
    """One column an event may carry.

    ``pii`` marks personal identifiers: they are replaced by a keyed hash before anything is
    stored. ``choices`` lists the allowed values of a ``choice`` field, per event type where
    types share a field name with different vocabularies.
    """

    name: str
    kind: FieldKind
    doc: str
    pii: bool = False
    choices: dict[EventType, tuple[str, ...]] = field(default_factory=dict)

    def choices_for(self, event_type: EventType) -> tuple[str, ...]:
        return self.choices.get(event_type, ())

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.kind]


_ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.string(),
    "string": pa.string(),
    "int": pa.int64(),
    "money": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "choice": pa.string(),
    "currency": pa.string(),
}

T = EventType
PRODUCTS = ("credit_card", "instalment", "pay_later", "loan", "other")
SCENARIOS = ("bike", "power_bank", "hotel", "car_rental", "flat_rental", "lending", "other")
MERCHANT_CATEGORIES = (
    "groceries",
    "dining",
    "transport",
    "travel",
    "electronics",
    "apparel",
    "entertainment",
    "health",
    "education",
    "home",
    "luxury",
    "gaming",
    "other",
)

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("event_id", "id", "Idempotency key, unique per event, chosen by the platform."),
    FieldSpec("user_id", "id", "The platform's id of the person the event is about.", pii=True),
    FieldSpec("type", "choice", "One of the 13 event types."),
    FieldSpec("ts", "timestamp", "When it happened (ISO 8601 with a UTC offset, e.g. ...Z)."),
    FieldSpec(
        "supersedes",
        "id",
        "Correction: the event_id of an earlier event of the same user that this one replaces.",
    ),
    FieldSpec("void", "bool", "With supersedes: the earlier event is cancelled, not replaced."),
    FieldSpec("account_id", "id", "The credit account or loan the event belongs to.", pii=True),
    FieldSpec(
        "product",
        "choice",
        "Kind of credit product.",
        choices={T.BILL: PRODUCTS, T.CREDIT_LINE: PRODUCTS},
    ),
    FieldSpec("amount", "money", "Amount in minor units (cents, fen) of `currency`; >= 0."),
    FieldSpec("currency", "currency", "ISO 4217 code, required with any amount."),
    FieldSpec("due_ts", "timestamp", "When the bill fell due."),
    FieldSpec("paid_ts", "timestamp", "When the bill was paid in full; empty while unpaid."),
    FieldSpec("paid_amount", "money", "How much of the bill has been paid, minor units."),
    FieldSpec("days_past_due", "int", "Days late, as of the event's ts; 0 when on time."),
    FieldSpec("repaired", "bool", "The overdue record was repaid and then repaired."),
    FieldSpec(
        "action",
        "choice",
        "What happened to the credit line or the social link.",
        choices={T.CREDIT_LINE: ("open", "update", "close"), T.SOCIAL_LINK: ("added", "removed")},
    ),
    FieldSpec("credit_limit", "money", "Credit limit of the line, minor units."),
    FieldSpec("balance", "money", "Outstanding balance (credit line) or holding (asset)."),
    FieldSpec(
        "scenario",
        "choice",
        "Service scenario (fulfillment) or the partner's stated purpose (inquiry).",
        choices={T.SERVICE_FULFILLMENT: SCENARIOS, T.INQUIRY: SCENARIOS},
    ),
    FieldSpec(
        "outcome",
        "choice",
        "How the agreement ended.",
        choices={T.SERVICE_FULFILLMENT: ("on_time", "late", "defaulted")},
    ),
    FieldSpec(
        "channel",
        "choice",
        "Where the purchase was made.",
        choices={T.PAYMENT: ("online", "offline")},
    ),
    FieldSpec(
        "merchant_category",
        "choice",
        "Merchant category of the purchase.",
        choices={T.PAYMENT: MERCHANT_CATEGORIES},
    ),
    FieldSpec("counterparty_id", "id", "The other user (platform id).", pii=True),
    FieldSpec("direction", "choice", "Money in or out.", choices={T.TRANSFER: ("in", "out")}),
    FieldSpec(
        "utility",
        "choice",
        "Which utility was paid.",
        choices={T.UTILITY_PAYMENT: ("water", "electricity", "gas", "phone", "broadband")},
    ),
    FieldSpec("address", "string", "Address text (paid for, delivered to, or on file).", pii=True),
    FieldSpec("phone", "string", "Phone number (used to pay, or on file).", pii=True),
    FieldSpec(
        "kind",
        "choice",
        "Sub-kind of the event.",
        choices={
            T.CHARITY: ("donation", "tree_planting", "volunteering"),
            T.ASSET_SNAPSHOT: ("savings", "wealth", "provident_fund"),
            T.VERIFICATION: ("real_name", "education", "employment", "vehicle", "property"),
            T.PROFILE_CHANGE: ("phone", "address"),
            T.SECURITY_EVENT: ("abnormal_login", "account_theft", "fraud_flag"),
        },
    ),
    FieldSpec("national_id", "string", "National id number shown at verification.", pii=True),
    FieldSpec("partner_id", "id", "The partner that read the score."),
)

FIELD_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}
PII_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.pii)
MONEY_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == "money")
COMMON_REQUIRED: tuple[str, ...] = ("event_id", "user_id", "type", "ts")
COMMON_OPTIONAL: tuple[str, ...] = ("supersedes", "void")


@dataclass(frozen=True)
class TypeSpec:
    """What one event type requires and allows, beyond the common fields.

    ``required_when`` lists (field, value, required field): e.g. a profile change of kind
    ``phone`` must carry the new ``phone``.
    """

    type: EventType
    doc: str
    dimensions: tuple[Dimension, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    required_when: tuple[tuple[str, str, str], ...] = ()
    example: dict[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        return COMMON_REQUIRED + COMMON_OPTIONAL + self.required + self.optional


D = Dimension
_TS = "2026-03-05T09:30:00Z"

EVENT_TYPES: dict[EventType, TypeSpec] = {
    t.type: t
    for t in (
        TypeSpec(
            T.BILL,
            "A card, instalment, pay-later or loan bill: due date and amount, paid date and "
            "amount, days past due. A later state of the same bill is a correction (supersedes).",
            (D.CREDIT_HISTORY,),
            required=("account_id", "product", "amount", "currency", "due_ts", "days_past_due"),
            optional=("paid_ts", "paid_amount", "repaired"),
            example={
                "account_id": "card-001",
                "product": "credit_card",
                "amount": 250000,
                "currency": "CNY",
                "due_ts": "2026-03-01T00:00:00Z",
                "paid_ts": "2026-03-04T12:00:00Z",
                "paid_amount": 250000,
                "days_past_due": 3,
            },
        ),
        TypeSpec(
            T.CREDIT_LINE,
            "A credit product opened, updated or closed, with its limit and balance.",
            (D.CREDIT_HISTORY, D.FULFILLMENT_CAPACITY),
            required=("account_id", "product", "action", "credit_limit", "currency"),
            optional=("balance",),
            example={
                "account_id": "card-001",
                "product": "credit_card",
                "action": "open",
                "credit_limit": 2000000,
                "balance": 0,
                "currency": "CNY",
            },
        ),
        TypeSpec(
            T.SERVICE_FULFILLMENT,
            "A deposit-free rental (bike, power bank, hotel, car, flat) returned or paid on "
            "time, late, or defaulted.",
            (D.CREDIT_HISTORY,),
            required=("scenario", "outcome"),
            optional=("amount", "currency", "days_past_due"),
            example={
                "scenario": "power_bank",
                "outcome": "on_time",
                "amount": 300,
                "currency": "CNY",
            },
        ),
        TypeSpec(
            T.PAYMENT,
            "A purchase online or offline, with merchant category and amount.",
            (D.BEHAVIOR_PREFERENCE,),
            required=("amount", "currency", "channel", "merchant_category"),
            optional=("address", "phone"),
            example={
                "amount": 8900,
                "currency": "CNY",
                "channel": "online",
                "merchant_category": "groceries",
                "address": "No. 8 Wensan Road, Hangzhou",
            },
        ),
        TypeSpec(
            T.TRANSFER,
            "Money sent to or received from another user.",
            (D.BEHAVIOR_PREFERENCE, D.CONNECTIONS),
            required=("counterparty_id", "direction", "amount", "currency"),
            example={
                "counterparty_id": "U0002",
                "direction": "out",
                "amount": 5000,
                "currency": "CNY",
            },
        ),
        TypeSpec(
            T.UTILITY_PAYMENT,
            "Water, electricity, gas, phone or broadband paid, with the address paid for.",
            (D.BEHAVIOR_PREFERENCE, D.IDENTITY_TRAITS),
            required=("utility", "amount", "currency"),
            optional=("address", "phone", "days_past_due"),
            example={
                "utility": "electricity",
                "amount": 21000,
                "currency": "CNY",
                "address": "No. 8 Wensan Road, Hangzhou",
                "days_past_due": 0,
            },
        ),
        TypeSpec(
            T.CHARITY,
            "A donation, tree planting or volunteering.",
            (D.BEHAVIOR_PREFERENCE,),
            required=("kind",),
            optional=("amount", "currency"),
            example={"kind": "donation", "amount": 1000, "currency": "CNY"},
        ),
        TypeSpec(
            T.ASSET_SNAPSHOT,
            "The balance held in savings, wealth products or the provident fund on a date.",
            (D.FULFILLMENT_CAPACITY,),
            required=("kind", "balance", "currency"),
            example={"kind": "savings", "balance": 3500000, "currency": "CNY"},
        ),
        TypeSpec(
            T.VERIFICATION,
            "Identity information verified: real name (with national id), education, "
            "employment, vehicle, property.",
            (D.IDENTITY_TRAITS, D.FULFILLMENT_CAPACITY),
            required=("kind",),
            optional=("national_id",),
            required_when=(("kind", "real_name", "national_id"),),
            example={"kind": "real_name", "national_id": "330106199001011234"},
        ),
        TypeSpec(
            T.PROFILE_CHANGE,
            "The phone number or address on file changed (the new value).",
            (D.IDENTITY_TRAITS,),
            required=("kind",),
            optional=("phone", "address"),
            required_when=(("kind", "phone", "phone"), ("kind", "address", "address")),
            example={"kind": "phone", "phone": "+86 138 0013 8000"},
        ),
        TypeSpec(
            T.SOCIAL_LINK,
            "A friend added or removed.",
            (D.CONNECTIONS,),
            required=("counterparty_id", "action"),
            example={"counterparty_id": "U0002", "action": "added"},
        ),
        TypeSpec(
            T.SECURITY_EVENT,
            "An abnormal login, a reported account theft, or a fraud flag.",
            (
                D.CREDIT_HISTORY,
                D.BEHAVIOR_PREFERENCE,
                D.FULFILLMENT_CAPACITY,
                D.IDENTITY_TRAITS,
                D.CONNECTIONS,
            ),
            required=("kind",),
            example={"kind": "abnormal_login"},
        ),
        TypeSpec(
            T.INQUIRY,
            "A partner read the score (written by the platform itself).",
            (D.CREDIT_HISTORY,),
            required=("partner_id", "scenario"),
            example={"partner_id": "partner-hotel-01", "scenario": "hotel"},
        ),
    )
}

# The lake: every field, then what the lake adds. user_id and the other identifiers hold keyed
# hashes there, never the platform's values.
LAKE_SCHEMA: pa.Schema = pa.schema(
    [pa.field(f.name, f.arrow_type, nullable=f.name not in COMMON_REQUIRED) for f in FIELDS]
    + [
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def example_event(event_type: EventType) -> dict[str, Any]:
    """A complete, valid example of ``event_type`` (as the platform would send it)."""
    spec = EVENT_TYPES[event_type]
    return {
        "event_id": f"ev-{event_type.value}-0001",
        "user_id": "U0001",
        "type": event_type.value,
        "ts": _TS,
        **spec.example,
    }


# --- pydantic models, derived from the tables above ----------------------------------------

IdStr = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=ID_MAX_LENGTH)]
TextStr = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_LENGTH)]
Money = Annotated[int, PydField(ge=0)]
Count = Annotated[int, PydField(ge=0)]


def _python_type(spec: FieldSpec, event_type: EventType) -> Any:
    if spec.kind == "id":
        return IdStr
    if spec.kind == "string":
        return TextStr
    if spec.kind == "money":
        return Money
    if spec.kind == "int":
        return Count
    if spec.kind == "timestamp":
        return AwareDatetime
    if spec.kind == "bool":
        return bool
    if spec.kind == "currency":
        return Literal[tuple(sorted(CURRENCIES))]
    return Literal[spec.choices_for(event_type)]


class EventBase(BaseModel):
    """Common base of the 13 event models: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _check_requirements(self) -> EventBase:
        problem = requirement_problem(self.model_dump())
        if problem is not None:
            field_name, reason = problem
            raise ValueError(f"{field_name}: {reason}")
        return self


def requirement_problem(event: dict[str, Any]) -> tuple[str, str] | None:
    """The first cross-field rule ``event`` breaks, as (field, reason), or None.

    The same rules as the bulk validator: a void event needs only ``supersedes``; other events
    need their type's required fields, the fields ``required_when`` names, and a currency with
    any amount.
    """
    spec = EVENT_TYPES[EventType(event["type"])]
    if event.get("void"):
        if event.get("supersedes") is None:
            return "supersedes", "required when void is true"
        return None
    for name in spec.required:
        if event.get(name) is None:
            return name, f"required for {spec.type.value} events"
    for when_field, when_value, name in spec.required_when:
        if event.get(when_field) == when_value and event.get(name) is None:
            return name, f"required for {spec.type.value} events of {when_field} {when_value}"
    if event.get("currency") is None and any(event.get(m) is not None for m in MONEY_FIELDS):
        return "currency", "required with any amount"
    return None


def _build_model(spec: TypeSpec) -> type[EventBase]:
    # Type-specific fields are optional in the model because a void correction carries none of
    # them; `requirement_problem` enforces what each type needs.
    fields: dict[str, Any] = {
        "type": (Literal[spec.type.value], ...),
        "event_id": (IdStr, ...),
        "user_id": (IdStr, ...),
        "ts": (AwareDatetime, ...),
        "supersedes": (IdStr | None, None),
        "void": (bool, False),
    }
    for name in spec.required + spec.optional:
        fields[name] = (_python_type(FIELD_BY_NAME[name], spec.type) | None, None)
    class_name = "".join(part.title() for part in spec.type.value.split("_")) + "Event"
    return create_model(class_name, __base__=EventBase, __doc__=spec.doc, **fields)


EVENT_MODELS: dict[EventType, type[EventBase]] = {
    t: _build_model(s) for t, s in EVENT_TYPES.items()
}


def _discriminated_union() -> Any:
    models = tuple(EVENT_MODELS.values())
    union: Any = models[0]
    for model in models[1:]:
        union = union | model
    return Annotated[union, PydField(discriminator="type")]


# Validate one event of any type: TypeAdapter(Event).validate_python({...}).
Event: Any = _discriminated_union()
