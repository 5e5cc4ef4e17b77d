"""The HTTP side of explanations and remedies: why my score, what if, my records, overdue
repair, disputes (for the person), and the dispute queue (for operators)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import duckdb
from fastapi import Depends, FastAPI, status
from pydantic import BaseModel, Field, StringConstraints

from pentascore.events.schema import ID_PATTERN
from pentascore.explain.actions import ACTIONS, RepairPolicy
from pentascore.explain.whatif import Explainer, NotScoreable
from pentascore.service.app import (
    PROBLEMS,
    ComputingConsumerDep,
    ConsumerDep,
    Limit,
    Offset,
    Service,
    ServiceDep,
    operator,
)
from pentascore.service.db import Dispute, Repair
from pentascore.service.disputes import disputes_of, file_dispute, queue, reject
from pentascore.service.errors import Refused
from pentascore.service.repairs import ask_repair, repairs_of
from pentascore.service.schemas import Page, Problem, Strict

EventId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


class ReasonOut(BaseModel):
    feature: str
    dimension: str
    text: str
    points_lost: int
    value: float | None


class StepOut(BaseModel):
    action: str
    text: str
    points: int
    months: int


class ExplanationOut(BaseModel):
    score: int
    band: str
    as_of: str
    model: str
    dimensions: dict[str, int]
    reasons: list[ReasonOut]
    plan: list[StepOut]


class WhatIfIn(Strict):
    actions: list[str] = Field(
        min_length=1, max_length=len(ACTIONS), description=f"Among {', '.join(ACTIONS)}."
    )


class WhatIfOut(BaseModel):
    score_now: int
    predicted: int
    low: int
    high: int
    months: int
    actions: list[str]


class RecordOut(BaseModel):
    event_id: str
    type: str
    ts: datetime
    fields: dict[str, Any]


class RepairIn(Strict):
    event_id: EventId


class RepairOut(BaseModel):
    repair_id: int
    event_id: str
    asked_at: datetime
    status: str
    reason: str | None
    correction_event_id: str | None
    extra_refresh_available: bool


class DisputeIn(Strict):
    event_id: EventId
    reason: Note


class DisputeOut(BaseModel):
    dispute_id: int
    event_id: str
    reason: str
    status: str
    filed_at: datetime
    due_at: datetime
    late: bool
    decided_at: datetime | None
    operator_note: str | None
    correction_event_id: str | None
    new_score: int | None


class Decision(Strict):
    note: Note
    changes: dict[str, Any] | None = Field(
        default=None, description="Uphold: new values of the record's fields."
    )
    void: bool = Field(default=False, description="Uphold: cancel the record instead.")


def explainer_of(svc: Service) -> Explainer:
    r = svc.rescorer
    model, doc = r.registry.load()
    policy = RepairPolicy(svc.settings.repair_max_amount, svc.settings.repair_max_days_to_repay)
    return Explainer(r.engine, r.lake, r.history, model, doc.version, policy)


def _unscoreable(exc: NotScoreable) -> Refused:
    if exc.needs:
        return Refused(404, "not_enough_data", str(exc), needs=exc.needs)
    return Refused(404, "no_data", str(exc))


def _repair_out(r: Repair) -> RepairOut:
    return RepairOut(
        repair_id=r.id,
        event_id=r.event_id,
        asked_at=r.asked_at,
        status=r.status,
        reason=r.reason,
        correction_event_id=r.correction_event_id,
        extra_refresh_available=r.status == "repaired" and not r.refresh_used,
    )


def _dispute_out(d: Dispute, now: datetime) -> DisputeOut:
    return DisputeOut(
        dispute_id=d.id,
        event_id=d.event_id,
        reason=d.reason,
        status=d.status,
        filed_at=d.filed_at,
        due_at=d.due_at,
        late=d.status == "pending" and d.due_at < now,
        decided_at=d.decided_at,
        operator_note=d.operator_note,
        correction_event_id=d.correction_event_id,
        new_score=d.new_score,
    )


def add_routes(app: FastAPI) -> None:
    @app.get("/v1/me/explanation", response_model=ExplanationOut, responses=PROBLEMS, tags=["me"])
    def my_explanation(svc: ServiceDep, me: ComputingConsumerDep) -> ExplanationOut:
        """Your score rescored now: the reasons it is not higher (points lost against the
        best attainable value) and a plan of what would raise it (each step rescored)."""
        try:
            explained = explainer_of(svc).explain(me, svc.clock.now())
        except NotScoreable as exc:
            raise _unscoreable(exc) from exc
        data = asdict(explained)
        for reason in data["reasons"]:
            reason["dimension"] = str(reason["dimension"])
        return ExplanationOut.model_validate(data)

    @app.post("/v1/me/whatif", response_model=WhatIfOut, responses=PROBLEMS, tags=["me"])
    def my_whatif(body: WhatIfIn, svc: ServiceDep, me: ComputingConsumerDep) -> WhatIfOut:
        """Your predicted score once the actions have happened: a rescoring of your events
        with theirs added."""
        unknown = [a for a in body.actions if a not in ACTIONS]
        if unknown:
            raise Refused(422, "unknown_action", f"actions must be among {', '.join(ACTIONS)}.")
        try:
            result = explainer_of(svc).what_if(me, svc.clock.now(), body.actions)
        except NotScoreable as exc:
            raise _unscoreable(exc) from exc
        return WhatIfOut.model_validate(asdict(result))

    @app.get("/v1/me/records", response_model=Page[RecordOut], responses=PROBLEMS, tags=["me"])
    def my_records(
        svc: ServiceDep,
        me: ComputingConsumerDep,
        type: str | None = None,
        offset: Offset = 0,
        limit: Limit = 50,
    ) -> Page[RecordOut]:
        """Your current records in the lake, newest first: what you can repair or dispute."""
        with duckdb.connect() as con:
            relation = svc.lake.events_sql(con, current=True)
            rows = (
                con.sql(
                    f"SELECT * FROM {relation} WHERE user_id = $me "
                    "AND ($type IS NULL OR type = $type) "
                    "ORDER BY ts DESC, event_id DESC LIMIT $limit OFFSET $offset",
                    params={"me": me, "type": type, "limit": limit + 1, "offset": offset},
                )
                .to_arrow_table()
                .to_pylist()
            )
        items = [
            RecordOut(
                event_id=r["event_id"],
                type=r["type"],
                ts=r["ts"],
                fields={
                    k: v
                    for k, v in r.items()
                    if v is not None
                    and k not in ("event_id", "type", "ts", "user_id", "batch_id", "ingested_at")
                },
            )
            for r in rows[:limit]
        ]
        return Page(items=items, next_offset=offset + limit if len(rows) > limit else None)

    @app.post(
        "/v1/me/repairs",
        response_model=RepairOut,
        status_code=status.HTTP_201_CREATED,
        responses=PROBLEMS | {422: {"model": Problem}},
        tags=["me"],
    )
    def my_repair(body: RepairIn, svc: ServiceDep, me: ComputingConsumerDep) -> RepairOut:
        """Ask to repair an overdue bill you have repaid in full; granted under the policy,
        it weighs less in your score and gives you one extra refresh."""
        policy = RepairPolicy(svc.settings.repair_max_amount, svc.settings.repair_max_days_to_repay)
        return _repair_out(
            ask_repair(
                svc.database,
                svc.lake,
                svc.settings.rejects_dir,
                svc.clock,
                policy,
                me,
                body.event_id,
            )
        )

    @app.get("/v1/me/repairs", response_model=list[RepairOut], responses=PROBLEMS, tags=["me"])
    def my_repairs(svc: ServiceDep, me: ConsumerDep) -> list[RepairOut]:
        return [_repair_out(r) for r in repairs_of(svc.database, me)]

    @app.post(
        "/v1/me/disputes",
        response_model=DisputeOut,
        status_code=status.HTTP_201_CREATED,
        responses=PROBLEMS,
        tags=["me"],
    )
    def my_dispute(body: DisputeIn, svc: ServiceDep, me: ComputingConsumerDep) -> DisputeOut:
        """Contest one of your records; it is pending at once and decided within 20 days."""
        filed = file_dispute(svc.database, svc.lake, svc.clock, me, body.event_id, body.reason)
        return _dispute_out(filed, svc.clock.now())

    @app.get("/v1/me/disputes", response_model=list[DisputeOut], responses=PROBLEMS, tags=["me"])
    def my_disputes(svc: ServiceDep, me: ConsumerDep) -> list[DisputeOut]:
        """Your disputes and how each was decided, newest first."""
        now = svc.clock.now()
        return [_dispute_out(d, now) for d in disputes_of(svc.database, me)]

    @app.get(
        "/v1/ops/disputes",
        response_model=Page[DisputeOut],
        responses=PROBLEMS,
        tags=["operators"],
        dependencies=[Depends(operator)],
    )
    def dispute_queue(svc: ServiceDep, offset: Offset = 0, limit: Limit = 50) -> Page[DisputeOut]:
        """Pending disputes by deadline: the late ones first."""
        now = svc.clock.now()
        queued, more = queue(svc.database, now, offset, limit)
        return Page(
            items=[_dispute_out(q.dispute, now) for q in queued],
            next_offset=offset + limit if more else None,
        )

    @app.post(
        "/v1/ops/disputes/{dispute_id}/uphold",
        response_model=DisputeOut,
        responses=PROBLEMS,
        tags=["operators"],
        dependencies=[Depends(operator)],
    )
    def uphold_dispute(dispute_id: int, body: Decision, svc: ServiceDep) -> DisputeOut:
        """Uphold: fix (``changes``) or void the record; the person is rescored at once."""
        decided = svc.uphold_dispute(dispute_id, body.note, changes=body.changes, void=body.void)
        return _dispute_out(decided, svc.clock.now())

    @app.post(
        "/v1/ops/disputes/{dispute_id}/reject",
        response_model=DisputeOut,
        responses=PROBLEMS,
        tags=["operators"],
        dependencies=[Depends(operator)],
    )
    def reject_dispute(dispute_id: int, body: Decision, svc: ServiceDep) -> DisputeOut:
        """Reject: the pending flag is lifted with your explanation."""
        return _dispute_out(reject(svc.database, svc.clock, dispute_id, body.note), svc.clock.now())
