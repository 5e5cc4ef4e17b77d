"""Overdue repair and disputes as state machines over the service's functions, with an
injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from pentascore.explain.actions import RepairPolicy
from pentascore.lake import ParquetLake
from pentascore.service.db import AuditEntry, Base, Database, Dispute, PublishedScore
from pentascore.service.disputes import (
    DISPUTE_DAYS,
    file_dispute,
    queue,
    reject,
    uphold,
)
from pentascore.service.errors import Refused
from pentascore.service.refresh import refresh
from pentascore.service.repairs import ask_repair
from tests.service.conftest import ScoredHome, World, make_world

POLICY = RepairPolicy(max_amount=1_000_000, max_days_to_repay=365)


def _bills(lake: ParquetLake) -> list[dict[str, Any]]:
    return [e for e in lake.read(current=True).to_pylist() if e["type"] == "bill"]


def _verdict(bill: dict[str, Any]) -> str | None:
    """The policy, written again from its rules: the refusal code, or None to repair."""
    if (bill["days_past_due"] or 0) < 1:
        return "never_overdue"
    if bill["repaired"]:
        return "already_repaired"
    if bill["paid_ts"] is None or (bill["paid_amount"] or 0) < bill["amount"]:
        return "not_repaid"
    if bill["amount"] > POLICY.max_amount:
        return "over_policy_amount"
    if (bill["paid_ts"] - bill["due_ts"]).days > POLICY.max_days_to_repay:
        return "repaid_too_late"
    return None


def test_overdue_repair_follows_the_policy_and_grants_one_refresh(world: World) -> None:
    w = world
    lake = ParquetLake(w.settings.lake_dir)
    bills = _bills(lake)
    by_verdict: dict[str | None, dict[str, Any]] = {}
    for bill in bills:
        by_verdict.setdefault(_verdict(bill), bill)
    assert {None, "never_overdue", "not_repaid"} <= by_verdict.keys()
    for verdict, bill in by_verdict.items():
        if verdict is None:
            continue
        with pytest.raises(Refused) as refused:
            ask_repair(
                w.database,
                lake,
                w.settings.rejects_dir,
                w.clock,
                POLICY,
                bill["user_id"],
                bill["event_id"],
            )
        assert refused.value.code == verdict

    bill = by_verdict[None]
    user = bill["user_id"]
    repair = ask_repair(
        w.database, lake, w.settings.rejects_dir, w.clock, POLICY, user, bill["event_id"]
    )
    assert repair.status == "repaired" and repair.correction_event_id
    corrected = [e for e in _bills(lake) if e["event_id"] == repair.correction_event_id]
    assert corrected and corrected[0]["repaired"] and corrected[0]["supersedes"] == bill["event_id"]
    assert bill["event_id"] not in {e["event_id"] for e in _bills(lake)}
    # Asking again about the repaired (current) record: already repaired.
    with pytest.raises(Refused) as again:
        ask_repair(
            w.database,
            lake,
            w.settings.rejects_dir,
            w.clock,
            POLICY,
            user,
            repair.correction_event_id,
        )
    assert again.value.code == "already_repaired"

    # This month's refresh, then the one extra the repair grants, then no more.
    w.clock.set(w.clock.now() + timedelta(hours=1))
    rescorer = w.rescorer
    refresh(w.database, rescorer, user, w.clock.now())
    refresh(w.database, rescorer, user, w.clock.now())
    with pytest.raises(Refused) as used:
        refresh(w.database, rescorer, user, w.clock.now())
    assert used.value.code == "refresh_used"


class DisputeMachine(RuleBasedStateMachine):
    """File, uphold, reject and time passing in any order: the queue is always the pending
    disputes by deadline with the late ones marked, a decision is made once, and every step
    is in the audit log."""

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.make = make
        self.status: dict[int, str] = {}
        self.event_of: dict[int, str] = {}
        self.steps = 0

    @initialize()
    def start(self) -> None:
        self.w: World = self.make()
        self.lake = ParquetLake(self.w.settings.lake_dir)
        self.records = [
            (e["user_id"], e["event_id"])
            for e in self.lake.read(current=True).slice(0, 4000).to_pylist()
            if e["type"] in ("bill", "utility_payment", "service_fulfillment")
        ][:6]

    @rule(which=st.integers(0, 5))
    def file(self, which: int) -> None:
        user, event = self.records[which]
        pending = any(s == "pending" and self.event_of[i] == event for i, s in self.status.items())
        try:
            dispute = file_dispute(
                self.w.database, self.lake, self.w.clock, user, event, "not mine"
            )
        except Refused as exc:
            assert exc.code in ("already_disputed", "no_record")
            assert exc.code != "already_disputed" or pending
            return
        assert not pending
        assert dispute.due_at == dispute.filed_at + timedelta(days=DISPUTE_DAYS)
        self.status[dispute.id] = "pending"
        self.event_of[dispute.id] = event
        self.steps += 1

    def _decide(self, which: int, upholding: bool) -> None:
        if not self.status:
            return
        dispute_id = sorted(self.status)[which % len(self.status)]
        try:
            if upholding:
                decided = uphold(
                    self.w.database,
                    self.lake,
                    self.w.settings.rejects_dir,
                    self.w.clock,
                    self.w.rescorer,
                    dispute_id,
                    "checked: the record was wrong",
                    void=True,
                )
            else:
                decided = reject(self.w.database, self.w.clock, dispute_id, "the record stands")
        except Refused as exc:
            assert self.status[dispute_id] != "pending"
            assert exc.code in ("not_pending", "no_record")
            return
        assert self.status[dispute_id] == "pending"
        self.status[dispute_id] = decided.status
        assert decided.status == ("upheld" if upholding else "rejected")
        self.steps += 1
        if upholding:
            # The record is void: not current any more.
            current = {e["event_id"] for e in self.lake.read(current=True).to_pylist()}
            assert self.event_of[dispute_id] not in current

    @rule(which=st.integers(0, 10))
    def uphold(self, which: int) -> None:
        self._decide(which, True)

    @rule(which=st.integers(0, 10))
    def reject(self, which: int) -> None:
        self._decide(which, False)

    @rule(days=st.sampled_from([1, 10, 19, 21]))
    def time_passes(self, days: int) -> None:
        self.w.clock.set(self.w.clock.now() + timedelta(days=days))

    @invariant()
    def queue_and_history(self) -> None:
        if not hasattr(self, "w"):
            return
        now = self.w.clock.now()
        queued, _ = queue(self.w.database, now, limit=200)
        assert [q.dispute.id for q in queued] == sorted(
            (i for i, s in self.status.items() if s == "pending"),
            key=lambda i: (next(q.dispute.due_at for q in queued if q.dispute.id == i), i),
        )
        assert all(q.late == (q.dispute.due_at < now) for q in queued)
        with self.w.database.session() as session:
            logged = session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action.like("dispute.%"))
            )
        assert logged == self.steps


def _empty(database: Database) -> None:
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


def test_dispute_state_machine(scored_home: ScoredHome, database: Database, tmp_path: Path) -> None:
    runs = iter(range(1_000_000))

    def make() -> World:
        _empty(database)
        return make_world(scored_home, database, tmp_path / f"home-{next(runs)}")

    run_state_machine_as_test(
        lambda: DisputeMachine(make),
        settings=settings(
            max_examples=8,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_an_upheld_dispute_rescores_and_publishes(world: World) -> None:
    w = world
    lake = ParquetLake(w.settings.lake_dir)
    late = next(
        b
        for b in _bills(lake)
        if (b["days_past_due"] or 0) >= 30
        and b["user_id"] in set(w.home.scores.column("user_id").to_pylist())
    )
    dispute = file_dispute(w.database, lake, w.clock, late["user_id"], late["event_id"], "paid")
    w.clock.set(w.clock.now() + timedelta(days=3))
    decided = w.uphold(
        dispute.id, "the bank confirmed it was paid on time", changes={"days_past_due": 0}
    )
    assert decided.status == "upheld" and decided.new_score is not None
    fixed = next(e for e in _bills(lake) if e["event_id"] == decided.correction_event_id)
    assert fixed["days_past_due"] == 0 and fixed["supersedes"] == late["event_id"]
    with w.database.session() as session:
        latest = session.scalars(
            sa.select(PublishedScore)
            .where(PublishedScore.user_ref == late["user_id"])
            .order_by(PublishedScore.as_of.desc())
        ).first()
        assert latest is not None and latest.score == decided.new_score
        stored = session.get(Dispute, dispute.id)
        assert stored is not None and stored.operator_note.startswith("the bank")
    with pytest.raises(Refused) as bad:
        w.uphold(dispute.id, "again", void=True)
    assert bad.value.code == "not_pending"


class RepairMachine(RuleBasedStateMachine):
    """Repair requests on a person's bills, refreshes, and time passing, in any order: every
    answer follows the policy as written in `_verdict`, a repaired bill stays repaired, and
    refreshes are one a month plus one per granted repair."""

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.make = make
        self.credits = 0
        self.used_month: str | None = None

    @initialize()
    def start(self) -> None:
        self.w: World = self.make()
        self.lake = ParquetLake(self.w.settings.lake_dir)
        scored = set(self.w.home.scores.column("user_id").to_pylist())
        bills = [b for b in _bills(self.lake) if b["user_id"] in scored]
        # The person with the most repairable bills, and all their bills.
        counts: dict[str, int] = {}
        for b in bills:
            counts[b["user_id"]] = counts.get(b["user_id"], 0) + (_verdict(b) is None)
        self.user = max(counts, key=lambda u: (counts[u], u))
        self.rescorer = self.w.rescorer

    def _current_bills(self) -> list[dict[str, Any]]:
        return sorted(
            (b for b in _bills(self.lake) if b["user_id"] == self.user),
            key=lambda b: b["event_id"],
        )

    @rule(which=st.integers(0, 30))
    def ask(self, which: int) -> None:
        bills = self._current_bills()
        bill = bills[which % len(bills)]
        expected = _verdict(bill)
        try:
            repair = ask_repair(
                self.w.database,
                self.lake,
                self.w.settings.rejects_dir,
                self.w.clock,
                POLICY,
                self.user,
                bill["event_id"],
            )
        except Refused as exc:
            assert exc.code == expected, (exc.code, expected)
            return
        assert expected is None and repair.status == "repaired"
        self.credits += 1
        now_current = {b["event_id"]: b for b in self._current_bills()}
        assert bill["event_id"] not in now_current
        assert now_current[repair.correction_event_id or ""]["repaired"]

    @rule()
    def refresh_score(self) -> None:
        now = self.w.clock.now()
        month = f"{now:%Y-%m}"
        try:
            refresh(self.w.database, self.rescorer, self.user, now)
        except Refused as exc:
            assert exc.code == "refresh_used"
            assert self.used_month == month and self.credits == 0
            return
        if self.used_month == month:
            assert self.credits > 0
            self.credits -= 1
        self.used_month = month

    @rule(days=st.sampled_from([1, 12, 31]))
    def time_passes(self, days: int) -> None:
        self.w.clock.set(self.w.clock.now() + timedelta(days=days))


def test_repair_state_machine(scored_home: ScoredHome, database: Database, tmp_path: Path) -> None:
    runs = iter(range(1_000_000))

    def make() -> World:
        _empty(database)
        return make_world(scored_home, database, tmp_path / f"home-{next(runs)}")

    run_state_machine_as_test(
        lambda: RepairMachine(make),
        settings=settings(
            max_examples=6,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_two_operators_deciding_at_once_cannot_both_win(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another operator rejects the dispute between uphold's check and its claim: the uphold
    is refused, and nothing reaches the lake."""
    import pentascore.service.disputes as disputes

    w = world
    lake = ParquetLake(w.settings.lake_dir)
    user = w.home.scores.column("user_id")[0].as_py()
    record = next(e for e in lake.read(current=True).to_pylist() if e["user_id"] == user)
    dispute = file_dispute(w.database, lake, w.clock, user, record["event_id"], "not mine")
    looked_up = disputes.current_record

    def meanwhile(*args: Any) -> dict[str, Any]:
        found = looked_up(*args)
        reject(w.database, w.clock, dispute.id, "the record stands")
        return found

    monkeypatch.setattr(disputes, "current_record", meanwhile)
    with pytest.raises(Refused) as lost:
        w.uphold(dispute.id, "void it", void=True)
    assert lost.value.code == "not_pending"
    with w.database.session() as session:
        stored = session.get(Dispute, dispute.id)
        assert stored is not None and stored.status == "rejected"
    current = {e["event_id"] for e in lake.read(current=True).to_pylist()}
    assert record["event_id"] in current


def test_a_correction_keeps_the_records_dates(world: World) -> None:
    """A repair is dated just after the report it corrects, not when it was asked for: the
    bill's windows and the person's last activity do not move."""
    w = world
    lake = ParquetLake(w.settings.lake_dir)
    bill = next(b for b in _bills(lake) if _verdict(b) is None)
    user = bill["user_id"]
    engine = w.rescorer.engine
    w.clock.set(w.clock.now() + timedelta(days=40))
    before = engine.depth(lake, w.clock.now(), [user]).to_pylist()
    repair = ask_repair(
        w.database, lake, w.settings.rejects_dir, w.clock, POLICY, user, bill["event_id"]
    )
    corrected = next(e for e in _bills(lake) if e["event_id"] == repair.correction_event_id)
    assert corrected["ts"] == bill["ts"] + timedelta(microseconds=1)
    assert engine.depth(lake, w.clock.now(), [user]).to_pylist() == before


def test_a_dispute_about_a_since_corrected_record_corrects_its_newest_version(
    world: World,
) -> None:
    w = world
    lake = ParquetLake(w.settings.lake_dir)
    bill = next(b for b in _bills(lake) if _verdict(b) is None)
    user = bill["user_id"]
    dispute = file_dispute(w.database, lake, w.clock, user, bill["event_id"], "never late")
    # The person repairs the bill while the dispute waits: the disputed version is superseded.
    repair = ask_repair(
        w.database, lake, w.settings.rejects_dir, w.clock, POLICY, user, bill["event_id"]
    )
    decided = w.uphold(dispute.id, "the lender withdrew the report", void=True)
    assert decided.status == "upheld"
    everything = lake.read().to_pylist()
    void = next(e for e in everything if e["event_id"] == decided.correction_event_id)
    assert void["void"] and void["supersedes"] == repair.correction_event_id
    current = {e["event_id"] for e in lake.read(current=True).to_pylist()}
    assert not {bill["event_id"], repair.correction_event_id} & current


def test_an_uphold_retried_after_a_failed_rescore_writes_its_correction_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pentascore.service.disputes as disputes

    w = world
    lake = ParquetLake(w.settings.lake_dir)
    late = next(b for b in _bills(lake) if (b["days_past_due"] or 0) >= 30)
    dispute = file_dispute(w.database, lake, w.clock, late["user_id"], late["event_id"], "paid")
    rescore = disputes.rescore

    def down(*args: Any) -> dict[str, Any]:
        raise RuntimeError("the feature engine went away")

    monkeypatch.setattr(disputes, "rescore", down)
    with pytest.raises(RuntimeError):
        w.uphold(dispute.id, "paid on time", changes={"days_past_due": 0})
    with w.database.session() as session:
        stored = session.get(Dispute, dispute.id)
        assert stored is not None and stored.status == "pending"
    monkeypatch.setattr(disputes, "rescore", rescore)
    decided = w.uphold(dispute.id, "paid on time", changes={"days_past_due": 0})
    assert decided.status == "upheld"
    written = [e for e in lake.read().to_pylist() if e["event_id"] == decided.correction_event_id]
    assert len(written) == 1 and written[0]["days_past_due"] == 0
