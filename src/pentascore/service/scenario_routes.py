"""The HTTP side of partner scenarios: pass marks and decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from pentascore.events.schema import ID_PATTERN
from pentascore.scores.run import features_as_of
from pentascore.service.app import (
    PROBLEMS,
    PartnerDep,
    Service,
    ServiceDep,
    _reader,
    _service,
    _throttle,
    guarded_read,
)
from pentascore.service.db import Database, Partner
from pentascore.service.scenarios import decide, record_decision, set_threshold, thresholds
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


def _debt(svc: Service, user_ref: str) -> float:
    """The person's existing debt (open credit line balances, major units) from the lake."""
    r = svc.rescorer
    table = features_as_of(r.engine, r.lake, r.history, svc.clock.now(), [user_ref])
    if table.num_rows == 0 or "fc_debt" not in table.column_names:
        return 0.0
    return float(table.column("fc_debt")[0].as_py() or 0.0)


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
    async def decision(
        user_id: Annotated[str, Path(pattern=ID_PATTERN)],
        purpose: Purpose,
        request: Request,
        found: Annotated[Partner, Depends(_reader)],
    ) -> DecisionOut:
        """Approve or decline the person for a scenario against your pass mark, with a
        suggested credit line under a score+dimensions authorization. It is a read: the same
        authorization, the same query record (with the decision on it)."""
        svc = _service(request)
        read = await guarded_read(svc, found, user_id, purpose.value)
        assert read.score is not None
        ref = svc.user_ref(user_id)
        mark = (await run_in_threadpool(_thresholds, svc.database, found.id))[purpose.value]
        decided = await run_in_threadpool(
            decide, read, purpose.value, mark, lambda: _debt(svc, ref)
        )
        await run_in_threadpool(record_decision, svc.database, read.inquiry_id, decided)
        return DecisionOut(
            decision=decided.decision,
            reason=decided.reason,
            score=read.score.score,
            threshold=decided.threshold,
            credit_line=decided.credit_line,
            inquiry_id=read.inquiry_id,
        )
