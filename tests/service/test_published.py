"""Published scores: a monthly run never replaces a person's fresher score of its own day,
and a dispute that leaves a file too thin to score withdraws the score it stood on."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from pentascore.events.pseudonym import pseudonymize_value
from pentascore.lake import ParquetLake
from pentascore.lake.ingest import ingest_chunks, records_chunk
from pentascore.service.db import PublishedScore
from pentascore.service.disputes import file_dispute
from pentascore.service.published import latest, publish
from pentascore.service.refresh import refresh
from tests.conftest import KEY
from tests.service.conftest import World


def _rows(w: World, as_of: object) -> dict[str, tuple[int, str]]:
    with w.database.session() as session:
        found = session.execute(
            sa.select(PublishedScore.user_ref, PublishedScore.score, PublishedScore.source).where(
                PublishedScore.as_of == as_of
            )
        ).all()
    return {r.user_ref: (r.score, r.source) for r in found}


def test_a_monthly_run_keeps_a_refresh_of_its_own_day(world: World) -> None:
    w = world
    rescorer = w.rescorer
    person = w.home.scores.column("user_id")[0].as_py()
    # The person refreshes this morning: their score reads events up to now, the run's
    # only up to midnight.
    refreshed = refresh(w.database, rescorer, person, w.clock.now())
    day = w.clock.now().date()
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=w.clock.now().tzinfo)
    run = rescorer.score(w.home.scores.column("user_id").to_pylist(), midnight)
    assert person in set(run.column("user_id").to_pylist())

    published = publish(w.database, run, w.clock.now() + timedelta(hours=2))
    rows = _rows(w, day)
    assert published == run.num_rows - 1 == len(rows) - 1
    assert rows[person] == (refreshed.score, "refresh")
    others = {
        u: s
        for u, s in zip(
            run.column("user_id").to_pylist(), run.column("score").to_pylist(), strict=True
        )
        if u != person
    }
    assert all(rows[u] == (s, "batch") for u, s in others.items())
    # The run published again (a rerun) replaces its own rows only.
    assert publish(w.database, run, w.clock.now() + timedelta(hours=3)) == published
    assert _rows(w, day) == rows


def test_a_dispute_that_leaves_a_thin_file_withdraws_the_score(world: World) -> None:
    w = world
    now = w.clock.now()
    raw = "thin-after-dispute"
    person = pseudonymize_value(KEY, "user_id", raw)
    old = now - timedelta(days=250)
    records = [
        {
            "event_id": "td-old-bill",
            "user_id": raw,
            "type": "bill",
            "ts": old.isoformat(),
            "account_id": "td-card",
            "product": "credit_card",
            "amount": 50000,
            "currency": "CNY",
            "due_ts": old.isoformat(),
            "days_past_due": 45,
        },
        *(
            {
                "event_id": f"td-payment-{k}",
                "user_id": raw,
                "type": "payment",
                "ts": (now - timedelta(days=10 + 20 * k)).isoformat(),
                "amount": 3000,
                "currency": "CNY",
                "channel": "online",
                "merchant_category": "groceries",
            }
            for k in range(4)
        ),
    ]
    lake = ParquetLake(w.settings.lake_dir)
    ingest_chunks(
        [records_chunk(records, "a person of this test")],
        lake=lake,
        key=KEY,
        rejects_dir=w.settings.rejects_dir,
        clock=w.clock,
        strict=True,
    )
    scored = refresh(w.database, w.rescorer, person, now)
    assert scored.score >= 350
    assert w.client.get("/v1/me/score", headers=w.me(raw)).status_code == 200

    # The only old record was never theirs: without it the file is too young to score.
    dispute = file_dispute(w.database, lake, w.clock, person, "td-old-bill", "not my card")
    decided = w.uphold(dispute.id, "the card was opened by someone else", void=True)
    assert decided.status == "upheld" and decided.new_score is None
    with w.database.session() as session:
        assert latest(session, person) is None
        kept = session.scalars(
            sa.select(PublishedScore).where(PublishedScore.user_ref == person)
        ).all()
    assert len(kept) == 1 and kept[0].withdrawn_at == now
    mine = w.client.get("/v1/me/score", headers=w.me(raw))
    assert mine.status_code == 404 and mine.json()["error"] == "not_enough_data"
    # A partner with the person's authorization reads no score either.
    asked = w.client.post(
        "/v1/authorizations",
        headers=w.hotel,
        json={"user_id": raw, "purpose": "hotel", "scope": "score", "days": 30},
    )
    assert asked.status_code == 201, asked.text
    granted = w.client.post(
        f"/v1/me/authorizations/{asked.json()['authorization_id']}/grant", headers=w.me(raw)
    )
    assert granted.status_code == 200, granted.text
    read = w.client.get(f"/v1/scores/{raw}", params={"purpose": "hotel"}, headers=w.hotel)
    assert read.status_code == 404 and read.json()["error"] == "no_score"
