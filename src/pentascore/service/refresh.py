"""A person's own rescoring, through the batch's code, at most once per calendar month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from pentascore.features.engine import FeatureEngine
from pentascore.lake.store import ParquetLake
from pentascore.model.registry import ModelRegistry
from pentascore.scores.history import ScoreHistory
from pentascore.scores.run import ThinFile, score_people, thin_files
from pentascore.service.authorizations import audit
from pentascore.service.db import REFRESH, Database, PublishedScore, Refresh, Repair
from pentascore.service.errors import Refused
from pentascore.service.repairs import REPAIRED


@dataclass(frozen=True)
class Rescorer:
    """Scores chosen people from the lake with the champion model, as the batch run does."""

    engine: FeatureEngine
    lake: ParquetLake
    history: ScoreHistory
    registry: ModelRegistry

    def thin_file(self, user_ref: str, at: datetime) -> ThinFile | None:
        """The person's thin file, when that is why they have no score."""
        thin = thin_files(self.engine, self.lake, at, [user_ref])
        return thin[0] if thin else None

    def unscoreable(self, user_ref: str, at: datetime) -> Refused:
        """Why the person has no score: a thin file (and what it needs), or no events."""
        thin = self.thin_file(user_ref, at)
        if thin is not None:
            return Refused(
                404,
                "not_enough_data",
                "not enough data to score you yet: " + " ".join(thin.needs),
                needs=thin.needs,
            )
        return Refused(404, "no_data", "there are no events about you yet, so nothing to score.")

    def score(self, user_refs: list[str], at: datetime) -> pa.Table:
        model, doc = self.registry.load()
        return score_people(self.engine, self.lake, self.history, model, doc.version, at, user_refs)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def refresh(database: Database, rescorer: Rescorer, user_ref: str, now: datetime) -> PublishedScore:
    """Rescores the person as of ``now`` and publishes it. Once per calendar month, plus one
    extra right after each granted overdue repair; otherwise 429 with the date the next
    refresh opens."""
    month = f"{now:%Y-%m}"
    opens = next_month(now.date()).isoformat()
    used = Refused(
        429,
        "refresh_used",
        f"your score was already refreshed in {month}; the next refresh opens on {opens}.",
        opens=opens,
    )
    with database.session() as session:
        taken = session.scalar(
            sa.select(Refresh.id).where(Refresh.user_ref == user_ref, Refresh.month == month)
        )
        credit = None
        if taken is not None:
            credit = session.scalar(
                sa.select(Repair.id)
                .where(
                    Repair.user_ref == user_ref,
                    Repair.status == REPAIRED,
                    Repair.refresh_used.is_(False),
                )
                .order_by(Repair.id)
                .limit(1)
            )
    if taken is not None and credit is None:
        raise used
    row = rescore(rescorer, user_ref, now)
    try:
        with database.session() as session:
            if credit is None:
                # The unique (user_ref, month) key settles two refreshes racing past the check.
                session.add(
                    Refresh(
                        user_ref=user_ref,
                        month=month,
                        at=now,
                        score=row["score"],
                        model=row["model"],
                    )
                )
                session.flush()
            else:
                spent = session.execute(
                    sa.update(Repair)
                    .where(Repair.id == credit, Repair.refresh_used.is_(False))
                    .values(refresh_used=True)
                )
                if spent.rowcount != 1:  # type: ignore[attr-defined]
                    raise used
            published = session.merge(
                PublishedScore(**row, published_at=now, source=REFRESH, withdrawn_at=None)
            )
            audit(
                session,
                now,
                "consumer",
                "score.refreshed",
                user_ref,
                score=row["score"],
                after_repair=credit,
            )
    except sa.exc.IntegrityError:
        raise used from None
    return published


def rescore(rescorer: Rescorer, user_ref: str, now: datetime) -> dict[str, Any]:
    """The person's score row as of ``now`` (``user_ref`` keyed), or why there is none."""
    scores = rescorer.score([user_ref], now)
    if scores.num_rows == 0:
        raise rescorer.unscoreable(user_ref, now)
    row: dict[str, Any] = scores.to_pylist()[0]
    row["user_ref"] = row.pop("user_id")
    return row
