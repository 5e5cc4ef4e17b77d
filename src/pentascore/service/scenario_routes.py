"""The HTTP side of partner scenarios: pass marks and decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import FastAPI, Path
from pydantic import BaseModel, Field

from pentascore.events.schema import ID_PATTERN
from pentascore.scores.run import features_as_of
from pentascore.service.app import PROBLEMS, PartnerDep, Service, ServiceDep, _throttle
from pentascore.service.db import Database
from pentascore.service.errors import Refused
from pentascore.service.reads import NO_SCORE
from pentascore.service.scenarios import decide, set_threshold, thresholds
from pentascore.service.schemas import Purpose, Strict


class ThresholdIn(Strict):
    threshold: int = Field(ge=350, le=950)


class DecisionOut(BaseModel):
    decision: str = Field(description="approve or decline")
    reason: str
    score: int
    threshold: int
    credit_line: int | None = Field(description="Suggested line in major units, on approval.")
    inquiry_id: int


def _debt(svc: Service) -> Callable[[str], float]:
    def debt_of(user_ref: str) -> float:
        r = svc.rescorer
        table = features_as_of(r.engine, r.lake, r.history, svc.clock.now(), [user_ref])
        if table.num_rows == 0 or "fc_debt" not in table.column_names:
            return 0.0
        value = table.column("fc_debt")[0].as_py()
        return float(value or 0.0)

    return debt_of


def _thresholds(database: Database, partner_id: str) -> dict[str, int]:
    with database.session() as session:
        return thresholds(session, partner_id)


def add_routes(app: FastAPI) -> None:
    @app.get("/v1/thresholds", response_model=dict[str, int], responses=PROBLEMS, tags=["partners"])
    def my_thresholds(svc: ServiceDep, found: PartnerDep) -> dict[str, int]:
        """Your pass mark for each scenario (yours where set, else the defaults)."""
        _throttle(svc, found)
        return _thresholds(svc.database, found.id)

    @app.put(
        "/v1/thresholds/{scenario}",
        response_model=dict[str, int],
        responses=PROBLEMS,
        tags=["partners"],
    )
    def put_threshold(
        scenario: Purpose, body: ThresholdIn, svc: ServiceDep, found: PartnerDep
    ) -> dict[str, int]:
        """Set your pass mark for a scenario."""
        _throttle(svc, found)
        return set_threshold(
            svc.database, found.id, scenario.value, body.threshold, svc.clock.now()
        )

    @app.get(
        "/v1/decisions/{user_id}",
        response_model=DecisionOut,
        responses=PROBLEMS,
        tags=["partners"],
    )
    def decision(
        user_id: Annotated[str, Path(pattern=ID_PATTERN)],
        purpose: Purpose,
        svc: ServiceDep,
        found: PartnerDep,
    ) -> DecisionOut:
        """Approve or decline the person for a scenario against your pass mark, with a
        suggested credit line; needs the same authorization as a read, and is recorded
        like one."""
        _throttle(svc, found)
        decided = decide(
            svc.database,
            found.id,
            svc.user_ref(user_id),
            purpose.value,
            svc.clock.now(),
            _debt(svc),
        )
        if decided.outcome == NO_SCORE:
            raise Refused(404, NO_SCORE, "this person has no score yet.")
        if decided.decision is None or decided.score is None:
            raise Refused(403, decided.outcome, "no active authorization for this purpose.")
        return DecisionOut(
            decision=decided.decision,
            reason=decided.reason,
            score=decided.score,
            threshold=decided.threshold,
            credit_line=decided.credit_line,
            inquiry_id=decided.inquiry_id,
        )
