"""Published scores: what partners and people read, copied from the score history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pentascore.core.errors import ModelError
from pentascore.scores.batch import SCORE_SCHEMA
from pentascore.service.db import BATCH, Database, PublishedScore

_CHUNK = 20_000


def publish(database: Database, scores: pa.Table, now: datetime) -> int:
    """Publishes a score run (a `SCORE_SCHEMA` table of one as-of date and one model);
    publishing the same run again replaces it. A person refreshed (or rescored after a
    dispute) on the run's as-of date keeps that score: it read more recent events than the
    run, which stops at midnight. Returns the rows published.

    The rows go in in short transactions of `_CHUNK` rows, not one: every partner read
    writes its query record, and one long transaction would hold reads up for the whole
    publication (half a minute for a million people on SQLite). Each person's row is whole
    at any moment; a publication cut short is finished by publishing again, which the
    monthly run does when it is run again."""
    if scores.schema != SCORE_SCHEMA:
        raise ModelError("only a table with the score schema can be published.")
    if scores.num_rows == 0:
        return 0
    runs = pc.unique(
        pc.binary_join_element_wise(
            pc.cast(scores.column("as_of"), pa.string()), scores.column("model"), "|"
        )
    ).to_pylist()
    rows = scores.rename_columns(["user_ref", *SCORE_SCHEMA.names[1:]])
    with database.session() as session:
        for run in runs:
            day, model = run.split("|", 1)
            as_of = date.fromisoformat(day)
            session.execute(
                sa.delete(PublishedScore).where(
                    PublishedScore.as_of == as_of,
                    PublishedScore.model == model,
                    PublishedScore.source == BATCH,
                )
            )
            kept = session.scalars(
                sa.select(PublishedScore.user_ref).where(
                    PublishedScore.as_of == as_of, PublishedScore.model == model
                )
            ).all()
            if kept:
                this_run = pc.and_(
                    pc.equal(rows.column("as_of"), pa.scalar(as_of, pa.date32())),
                    pc.equal(rows.column("model"), model),
                )
                rows = rows.filter(
                    pc.invert(pc.and_(this_run, pc.is_in(rows.column("user_ref"), pa.array(kept))))
                )
    rows = rows.append_column("published_at", pa.repeat(pa.scalar(now), rows.num_rows))
    rows = rows.append_column("source", pa.repeat(pa.scalar(BATCH), rows.num_rows))
    for start in range(0, rows.num_rows, _CHUNK):
        with database.session() as session:
            session.execute(sa.insert(PublishedScore), rows.slice(start, _CHUNK).to_pylist())
    return int(rows.num_rows)


def withdraw(session: Session, user_ref: str, now: datetime) -> int:
    """Withdraws the person's standing scores (an upheld dispute left their file too thin to
    score); they stay in the database, but nobody reads them any more."""
    result = session.execute(
        sa.update(PublishedScore)
        .where(PublishedScore.user_ref == user_ref, PublishedScore.withdrawn_at.is_(None))
        .values(withdrawn_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def latest(session: Session, user_ref: str) -> PublishedScore | None:
    """The person's most recent score (the latest as-of date, then the latest published)."""
    return session.scalars(
        sa.select(PublishedScore)
        .where(PublishedScore.user_ref == user_ref, PublishedScore.withdrawn_at.is_(None))
        .order_by(PublishedScore.as_of.desc(), PublishedScore.published_at.desc())
        .limit(1)
    ).first()


def history(
    session: Session, user_ref: str, offset: int, limit: int
) -> tuple[Sequence[PublishedScore], bool]:
    """A page of the person's scores, newest first; and whether more follow."""
    rows = session.scalars(
        sa.select(PublishedScore)
        .where(PublishedScore.user_ref == user_ref, PublishedScore.withdrawn_at.is_(None))
        .order_by(PublishedScore.as_of.desc(), PublishedScore.published_at.desc())
        .offset(offset)
        .limit(limit + 1)
    ).all()
    return rows[:limit], len(rows) > limit
