"""What the HTTP API takes and returns."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pentascore.events.schema import ID_PATTERN
from pentascore.service.authorizations import Scope, Status


class Purpose(StrEnum):
    """The scenario a partner reads the score for (the events' scenarios; a test keeps the
    two lists equal)."""

    BIKE = "bike"
    POWER_BANK = "power_bank"
    HOTEL = "hotel"
    CAR_RENTAL = "car_rental"
    FLAT_RENTAL = "flat_rental"
    LENDING = "lending"
    OTHER = "other"


UserId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
MAX_PAGE = 200
MAX_EVENTS = 10_000

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """Why a request was refused; ``error`` is a stable code to branch on."""

    error: str = Field(examples=["authorization_revoked"])
    message: str
    opens: str | None = Field(default=None, description="When a refused action opens again.")
    retry_after: float | None = Field(default=None, description="Seconds to wait (429).")
    needs: list[str] | None = Field(
        default=None, description="What would make a thin file scoreable (not_enough_data)."
    )


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class AuthorizationRequest(Strict):
    user_id: UserId = Field(description="The platform's id of the person.")
    purpose: Purpose = Field(description="The scenario the score is read for.")
    scope: Scope = Scope.SCORE
    days: int = Field(default=30, ge=1, le=365, description="How long a grant lasts.")


class AuthorizationOut(BaseModel):
    authorization_id: str
    partner_id: str
    partner_name: str
    purpose: str
    scope: Scope
    days: int
    status: Status
    requested_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    reason: str | None


class Revocation(Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class DimensionPoints(BaseModel):
    points: int = Field(description="Points this dimension adds to the base.")
    radar: int = Field(ge=0, le=100, description="The same points on 0-100 for a radar chart.")


class PartnerScore(BaseModel):
    score: int = Field(ge=350, le=950)
    band: str
    as_of: date
    model: str
    inquiry_id: int = Field(description="The query record this read left.")
    dimensions: dict[str, DimensionPoints] | None = Field(
        default=None, description="Only under a score+dimensions authorization."
    )


class MyScore(BaseModel):
    score: int = Field(ge=350, le=950)
    band: str
    as_of: date
    model: str
    base: int
    dimensions: dict[str, DimensionPoints]


class HistoryItem(BaseModel):
    as_of: date
    model: str
    score: int
    band: str


class InquiryOut(BaseModel):
    inquiry_id: int
    at: datetime
    partner_id: str
    partner_name: str
    purpose: str
    authorization_id: str | None
    outcome: str = Field(description="allowed, or why the read was refused.")
    decision: str | None = Field(
        default=None, description="For a scenario decision: approve or decline."
    )


class EventBatch(Strict):
    events: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_EVENTS)


class EventReject(BaseModel):
    row: int
    field: str
    reason: str
    event_id: str | None = None


class EventResult(BaseModel):
    batch_id: str
    accepted: int
    duplicates: int
    rejected: int
    rejects: list[EventReject]


class Pong(BaseModel):
    ok: bool = True
