"""Authorizations: a partner asks, the person grants or declines, and may revoke.

::

    pending --grant--> active --revoke--> revoked
       |                  |
       +--decline--> declined
       |                  |
       +--(30 days)--> expired <--(days run out)--+

Time is passed in (``now``), never read here, so expiry is tested with a moved clock. A row
keeps the status last decided; `effective_status` applies expiry on top, and is what every
check and listing uses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pentascore.events.schema import SCENARIOS
from pentascore.service.credentials import new_id
from pentascore.service.db import AuditEntry, Authorization, Partner
from pentascore.service.errors import Refused

PENDING_DAYS = 30  # a request nobody answers lapses
MAX_DAYS = 365
PURPOSES: tuple[str, ...] = SCENARIOS


class Scope(StrEnum):
    SCORE = "score"
    SCORE_AND_DIMENSIONS = "score+dimensions"


class Status(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"


def effective_status(authorization: Authorization, now: datetime) -> Status:
    status = Status(authorization.status)
    ran_out = authorization.expires_at is not None and authorization.expires_at <= now
    lapsed = authorization.requested_at + timedelta(days=PENDING_DAYS) <= now
    if (status is Status.ACTIVE and ran_out) or (status is Status.PENDING and lapsed):
        return Status.EXPIRED
    return status


def audit(
    session: Session,
    now: datetime,
    actor: str,
    action: str,
    subject_ref: str | None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(at=now, actor=actor, action=action, subject_ref=subject_ref, detail=detail)
    )


def request(
    session: Session,
    partner: Partner,
    user_ref: str,
    purpose: str,
    scope: Scope,
    days: int,
    now: datetime,
) -> tuple[Authorization, bool]:
    """A partner's request; returns it and whether it is new (an identical request still
    pending is returned instead of a second one)."""
    if purpose not in PURPOSES:
        raise Refused(422, "unknown_purpose", f"purpose must be one of {', '.join(PURPOSES)}.")
    if not 1 <= days <= MAX_DAYS:
        raise Refused(422, "bad_days", f"days must be between 1 and {MAX_DAYS}; got {days}.")
    waiting = session.scalars(
        sa.select(Authorization).where(
            Authorization.partner_id == partner.id,
            Authorization.user_ref == user_ref,
            Authorization.purpose == purpose,
            Authorization.scope == scope.value,
            Authorization.days == days,
            Authorization.status == Status.PENDING.value,
        )
    ).all()
    for earlier in waiting:
        if effective_status(earlier, now) is Status.PENDING:
            return earlier, False
    authorization = Authorization(
        id=new_id("auth_"),
        partner_id=partner.id,
        user_ref=user_ref,
        purpose=purpose,
        scope=scope.value,
        days=days,
        status=Status.PENDING.value,
        requested_at=now,
    )
    session.add(authorization)
    audit(
        session,
        now,
        f"partner:{partner.id}",
        "authorization.requested",
        user_ref,
        authorization_id=authorization.id,
        purpose=purpose,
        scope=scope.value,
        days=days,
    )
    return authorization, True


def _own(session: Session, user_ref: str, authorization_id: str) -> Authorization:
    authorization = session.get(Authorization, authorization_id, with_for_update=True)
    # Someone else's authorization is "not found", not "forbidden": ids reveal nothing.
    if authorization is None or authorization.user_ref != user_ref:
        raise Refused(404, "not_found", f"no authorization {authorization_id} of yours.")
    return authorization


def _settle(authorization: Authorization, now: datetime) -> Status:
    """The effective status, written back when time has expired the row."""
    status = effective_status(authorization, now)
    if status.value != authorization.status:
        authorization.status = status.value
    return status


class Decision(StrEnum):
    GRANT = "grant"
    DECLINE = "decline"
    REVOKE = "revoke"


# What each decision needs the authorization to be, and what it makes it.
_TRANSITIONS = {
    Decision.GRANT: (Status.PENDING, Status.ACTIVE),
    Decision.DECLINE: (Status.PENDING, Status.DECLINED),
    Decision.REVOKE: (Status.ACTIVE, Status.REVOKED),
}


_PAST = {Decision.GRANT: "granted", Decision.DECLINE: "declined", Decision.REVOKE: "revoked"}


def decide(
    session: Session,
    user_ref: str,
    authorization_id: str,
    decision: Decision,
    now: datetime,
    reason: str | None = None,
) -> Authorization:
    """The person's decision on one of their authorizations; 404 when it is not theirs, 409
    when it is not in the state the decision needs."""
    authorization = _own(session, user_ref, authorization_id)
    needed, becomes = _TRANSITIONS[decision]
    status = _settle(authorization, now)
    if status is not needed:
        raise Refused(
            409,
            f"not_{needed}",
            f"only a {needed} authorization can be {_PAST[decision]}; it is {status}.",
        )
    values: dict[str, Any] = {"status": becomes.value}
    if decision is Decision.REVOKE:
        values |= {"revoked_at": now, "reason": reason}
    else:
        values["decided_at"] = now
    if decision is Decision.GRANT:
        values["expires_at"] = now + timedelta(days=authorization.days)
    # One conditional update: of two decisions racing on the same row (SQLite has no row
    # locks), only the first finds it still in the state it needs.
    changed = session.execute(
        sa.update(Authorization)
        .where(Authorization.id == authorization.id, Authorization.status == needed.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise Refused(409, f"not_{needed}", "this authorization was decided meanwhile.")
    session.refresh(authorization)
    detail = {"reason": reason} if reason else {}
    audit(
        session,
        now,
        "consumer",
        f"authorization.{becomes}",
        user_ref,
        authorization_id=authorization.id,
        **detail,
    )
    return authorization


def _deadlines(
    now: datetime | sa.ColumnElement[datetime], lapsed: datetime | sa.ColumnElement[datetime]
) -> dict[Status, sa.ColumnElement[bool]]:
    """`effective_status`'s rule, as SQL: when a row that still says active or pending has
    expired by ``now``. Active: once ``expires_at`` is ``now`` or earlier; pending: once it
    was requested at ``lapsed`` (``now`` less `PENDING_DAYS`) or earlier."""
    a = Authorization
    return {Status.ACTIVE: a.expires_at <= now, Status.PENDING: a.requested_at <= lapsed}


def ran_out(
    now: datetime | sa.ColumnElement[datetime],
    lapsed: datetime | sa.ColumnElement[datetime],
    state: Callable[[Status], Any] = lambda s: s.value,
) -> sa.ColumnElement[bool]:
    """Whether a row that still says active or pending has expired by ``now`` (`_deadlines`),
    as SQL. ``now`` and ``lapsed`` are values or SQL expressions (the partner read's are
    columns of its request); ``state`` writes a state into the SQL (bound by default; the
    read path writes it in as a literal, `pentascore.service.reads._constant`)."""
    a = Authorization
    return sa.or_(
        *(sa.and_(a.status == state(s), passed) for s, passed in _deadlines(now, lapsed).items())
    )


def _status_is(status: Status, now: datetime) -> sa.ColumnElement[bool]:
    """`effective_status` == ``status``, as SQL (so lists filter and page in the database)."""
    a = Authorization
    lapsed = now - timedelta(days=PENDING_DAYS)
    if status is Status.EXPIRED:
        return sa.or_(a.status == Status.EXPIRED.value, ran_out(now, lapsed))
    deadline = _deadlines(now, lapsed).get(status)
    if deadline is not None:  # active or pending, and not yet run out
        return sa.and_(a.status == status.value, sa.not_(deadline))
    return a.status == status.value


def listing(
    session: Session,
    now: datetime,
    *,
    user_ref: str | None = None,
    partner_id: str | None = None,
    status: Status | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[tuple[Authorization, Status, str]], bool]:
    """A page of authorizations, newest first, each with its effective status and the
    partner's name; and whether more follow."""
    query = (
        sa.select(Authorization, Partner.name)
        .join(Partner, Partner.id == Authorization.partner_id)
        .order_by(Authorization.requested_at.desc(), Authorization.id.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    if user_ref is not None:
        query = query.where(Authorization.user_ref == user_ref)
    if partner_id is not None:
        query = query.where(Authorization.partner_id == partner_id)
    if status is not None:
        query = query.where(_status_is(status, now))
    rows = [(a, effective_status(a, now), name) for a, name in session.execute(query).all()]
    return rows[:limit], len(rows) > limit
