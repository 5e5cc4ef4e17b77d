"""Point in time: every engine equals the plain-Python oracle (``oracle.py``) on small lakes.

Hypothesis builds small lakes (a few people, every event type, corrections and voids, some
dated after the as-of date), lands them through the real ingest path, and checks every
feature and the labels at as-of dates inside and around the events: exactly at an event's
ts, a microsecond either side, and at the edges of the windows. Readable examples below pin
the main rules with numbers, for the engines and the oracle alike.

Disagreements the oracle found between the SQL and the documented intent are pinned by
examples at the end, now that they are fixed. Forked corrections (two corrections of one
version) are refused at ingest, so generated lakes hold chains only.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from pentascore.core.clock import FixedClock
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.events.schema import (
    FIELD_BY_NAME,
    MERCHANT_CATEGORIES,
    PRODUCTS,
    SCENARIOS,
    EventType,
    example_event,
)
from pentascore.features.catalog import CATALOG
from pentascore.features.duckdb_engine import DuckDBEngine
from pentascore.features.engine import SCORES_SCHEMA
from pentascore.lake import ParquetLake, ingest_chunks, records_chunk
from tests.conftest import KEY
from tests.features import oracle

# The engines under test, each built with no arguments.
ENGINES: list[type[Any]] = [DuckDBEngine]

NAMES = [spec.name for spec in CATALOG]
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
USERS = ("U1", "U2", "U3", "U4", "U5", "U6")
OUTSIDER = "X9"  # a counterparty with no events of its own
RAW_ID = {pseudonymize_value(KEY, "user_id", u): u for u in (*USERS, OUTSIDER)}

Row = dict[str, Any]
Values = dict[str, float | None]


class EngineDisagrees(AssertionError):
    """The engine's answer differs from the oracle's."""


def engine_id(engine_cls: type[Any]) -> str:
    return str(getattr(engine_cls, "name", engine_cls.__name__))


def pseudonym(user: str) -> str:
    return pseudonymize_value(KEY, "user_id", user)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_event(event_type: EventType, user: str, ts: datetime, fields: Row) -> Row:
    """``example_event(event_type)`` with ``fields`` over it; a field set to None is left out.
    Datetimes are written as the platform sends them (ISO 8601, Z)."""
    values = {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}
    row = {**example_event(event_type), "user_id": user, "ts": iso(ts), **values}
    return {k: v for k, v in row.items() if v is not None}


def build_lake(root: Path, batches: Sequence[list[Row]]) -> ParquetLake:
    """Ingest ``batches`` (raw events, as a platform sends them) through the real path."""
    lake = ParquetLake(root / "lake")
    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    for number, batch in enumerate(batches):
        if not batch:
            continue
        report = ingest_chunks(
            [records_chunk(batch, f"batch-{number}")],
            lake=lake,
            key=KEY,
            rejects_dir=root / "rejects",
            clock=clock,
            strict=True,
        )
        assert (report.accepted, report.duplicates, report.rejected) == (len(batch), 0, 0)
    return lake


def same(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


def scores_table(scores: Mapping[str, float]) -> pa.Table:
    rows = [{"user_id": u, "score": s} for u, s in sorted(scores.items())]
    return pa.Table.from_pylist(rows, schema=SCORES_SCHEMA)


def check_features(
    engine: Any,
    lake: ParquetLake,
    stored: list[Row],
    as_of: datetime,
    scores: Mapping[str, float] | None = None,
) -> dict[str, Values]:
    """The engine's features as of ``as_of`` by user_id; raises `EngineDisagrees` unless
    they equal the oracle's for every person and every feature."""
    previous = scores_table(scores) if scores is not None else None
    table = engine.features(lake, as_of, previous_scores=previous)
    assert table.column_names == ["user_id", *NAMES]
    users = table.column("user_id").to_pylist()
    got = {row.pop("user_id"): row for row in table.to_pylist()}
    want = oracle.features(stored, as_of, scores)
    if users != sorted(want):
        raise EngineDisagrees(f"as of {as_of}: rows for {users}, oracle {sorted(want)}")
    wrong = [
        f"{RAW_ID.get(user, user)} {name}: engine {got[user][name]!r}, oracle {want[user][name]!r}"
        for user in want
        for name in NAMES
        if not same(got[user][name], want[user][name])
    ]
    if wrong:
        raise EngineDisagrees(f"as of {as_of.isoformat()}:\n" + "\n".join(wrong))
    # Each person alone (a refresh, an explanation) gets the same row as in the batch.
    for user in users:
        alone = engine.features(lake, as_of, previous_scores=previous, users=[user]).to_pylist()
        if [r.pop("user_id") for r in alone] != [user] or not all(
            same(alone[0][name], got[user][name]) for name in NAMES
        ):
            raise EngineDisagrees(f"as of {as_of}: {RAW_ID.get(user, user)} alone differs")
    return got


def check_labels(
    engine: Any, lake: ParquetLake, stored: list[Row], as_of: datetime, until: datetime
) -> dict[str, int]:
    """The engine's labels by user_id; raises `EngineDisagrees` unless they are the oracle's."""
    table = engine.labels(lake, as_of, until)
    users = table.column("user_id").to_pylist()
    got = dict(zip(users, table.column("bad").to_pylist(), strict=True))
    want = oracle.labels(stored, as_of, until)
    if users != sorted(want) or got != want:
        raise EngineDisagrees(f"labels in ({as_of}, {until}]: engine {got}, oracle {want}")
    return got


# --- generated lakes ------------------------------------------------------------------------

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_DAYS = 730  # events fall in the two years from T0
LAST_CORRECTION = T0 + (SPAN_DAYS + 400) * DAY  # corrections come at the latest 400 days on
WINDOWS = (30, 90, 180, 365, 1826)  # as-of dates fall on the edges of these after an event
EAST_8 = timezone(timedelta(hours=8))
# Every type, and more of those that other people's features read (friends, flags, transfers,
# defaults), so that connections are exercised often.
TYPES = [*EventType, EventType.BILL, EventType.SOCIAL_LINK, EventType.SOCIAL_LINK]
TYPES += [EventType.SECURITY_EVENT, EventType.TRANSFER]
ACCOUNTS = ("card-1", "loan-2", "bnpl-3")

_MONEY = st.one_of(st.sampled_from([0, 100, 250_000]), st.integers(0, 5_000_000))
_DPD = st.sampled_from([0, 0, 0, 1, 29, 30, 59, 60, 89, 90, 119, 120, 400])
# Bills are often far past due: defaults feed friends' flags and the labels.
_BILL_DPD = st.sampled_from([0, 0, 1, 29, 30, 59, 60, 89, 90, 90, 95, 119, 120, 400])


@dataclass
class Scenario:
    batches: list[list[Row]]
    as_ofs: list[datetime]
    spans: list[tuple[datetime, datetime]]  # (as_of, until) for labels
    scores: dict[str, float]  # raw user id -> previous score


def _instants() -> st.SearchStrategy[datetime]:
    """Times in the two years from T0: whole days (so that events tie) or any microsecond."""
    return st.one_of(
        st.integers(0, SPAN_DAYS).map(lambda d: T0 + d * DAY),
        st.integers(0, SPAN_DAYS * 86_400_000_000).map(lambda us: T0 + us * US),
    )


def _choice(field: str, event_type: EventType) -> st.SearchStrategy[str]:
    return st.sampled_from(FIELD_BY_NAME[field].choices_for(event_type))


@st.composite
def _bill_state(draw: st.DrawFn, ts: datetime) -> Row:
    """What changes from one report of a bill to the next (a report made at ``ts``); now
    and then a report gives a payment date after its own (a scheduled payment, say)."""
    state: Row = {"days_past_due": draw(_BILL_DPD)}
    paid = draw(st.sampled_from(["no", "at the report", "before the report", "after it"]))
    if paid == "no":
        return {**state, "paid_ts": None, "paid_amount": None, "repaired": None}
    gap = draw(st.sampled_from([0, 1, 30]) | st.integers(0, 90 * 86_400)) * 1_000_000 * US
    return {
        **state,
        "paid_ts": {"at the report": ts, "before the report": ts - gap, "after it": ts + gap}[paid],
        "paid_amount": draw(_MONEY),
        "repaired": draw(st.sampled_from([None, True, False])),
    }


@st.composite
def _fields(draw: st.DrawFn, event_type: EventType, ts: datetime, users: list[str]) -> Row:
    """Type-specific fields, valid for the schema (None: left out)."""
    t = EventType
    others = [*users, OUTSIDER]
    if event_type == t.BILL:
        due = ts + draw(st.sampled_from([0, -30, 10]) | st.integers(-500, 40)) * DAY
        return {
            "account_id": draw(st.sampled_from(ACCOUNTS)),
            "product": draw(st.sampled_from(PRODUCTS)),
            "amount": draw(_MONEY),
            "due_ts": due,
            **draw(_bill_state(ts)),
        }
    if event_type == t.CREDIT_LINE:
        return {
            "account_id": draw(st.sampled_from(ACCOUNTS)),
            "product": draw(st.sampled_from(PRODUCTS)),
            "action": draw(_choice("action", event_type)),
            "credit_limit": draw(_MONEY),
            "balance": draw(st.none() | _MONEY),
        }
    if event_type == t.SERVICE_FULFILLMENT:
        return {
            "scenario": draw(st.sampled_from(SCENARIOS)),
            "outcome": draw(_choice("outcome", event_type)),
            "amount": draw(st.none() | _MONEY),
            "days_past_due": draw(st.none() | _DPD),
        }
    if event_type == t.PAYMENT:
        return {
            "amount": draw(_MONEY),
            "channel": draw(_choice("channel", event_type)),
            "merchant_category": draw(st.sampled_from(MERCHANT_CATEGORIES)),
            "address": draw(st.sampled_from([None, "No. 8 Wensan Road, Hangzhou"])),
        }
    if event_type == t.TRANSFER:
        return {
            "counterparty_id": draw(st.sampled_from(others)),
            "direction": draw(_choice("direction", event_type)),
            "amount": draw(_MONEY),
        }
    if event_type == t.UTILITY_PAYMENT:
        return {
            "utility": draw(_choice("utility", event_type)),
            "amount": draw(_MONEY),
            "days_past_due": draw(st.none() | _DPD),
            "address": None,
        }
    if event_type == t.CHARITY:
        return {"kind": draw(_choice("kind", event_type)), "amount": draw(st.none() | _MONEY)}
    if event_type == t.ASSET_SNAPSHOT:
        return {"kind": draw(_choice("kind", event_type)), "balance": draw(_MONEY)}
    if event_type == t.VERIFICATION:
        kind = draw(_choice("kind", event_type))
        return {"kind": kind, "national_id": "330106199001011234" if kind == "real_name" else None}
    if event_type == t.PROFILE_CHANGE:
        kind = draw(_choice("kind", event_type))
        return {
            "kind": kind,
            "phone": "+86 138 0013 8000" if kind == "phone" else None,
            "address": "No. 9 Wensan Road" if kind == "address" else None,
        }
    if event_type == t.SOCIAL_LINK:
        return {
            "counterparty_id": draw(st.sampled_from(others)),
            "action": draw(_choice("action", event_type)),
        }
    if event_type == t.SECURITY_EVENT:
        return {"kind": draw(_choice("kind", event_type))}
    assert event_type == t.INQUIRY
    return {"partner_id": "partner-01", "scenario": draw(st.sampled_from(SCENARIOS))}


def _correction(draw: st.DrawFn, target: Row, users: list[str]) -> Row:
    """A correction or a void of ``target``, at once or up to 400 days later."""
    after = draw(
        st.sampled_from([timedelta(0), US, DAY, 30 * DAY])
        | st.integers(0, 400 * 86_400_000_000).map(lambda us: us * US)
    )
    then = datetime.fromisoformat(target["ts"])
    ts = max(then, min(then + after, LAST_CORRECTION))
    user, event_type = target["user_id"], EventType(target["type"])
    if draw(st.integers(0, 3)) == 0:
        return {"user_id": user, "type": event_type.value, "ts": iso(ts), "void": True}
    fields = draw(_fields(event_type, ts, users))
    if event_type == EventType.BILL:  # a later report of the same bill (unless voided)
        same_bill = ("account_id", "product", "amount", "due_ts")
        fields.update({k: target[k] for k in same_bill if k in target})
    if event_type == EventType.CREDIT_LINE:  # a later state of the same line
        fields["account_id"] = target.get("account_id", fields["account_id"])
    return make_event(event_type, user, ts, fields)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    users = list(USERS[: draw(st.integers(1, len(USERS)))])
    rows: list[Row] = []
    parents: list[int | None] = []  # the row each row supersedes
    n_base = draw(st.integers(0, 30))
    for _ in range(n_base):
        event_type = draw(st.sampled_from(TYPES))
        user, ts = draw(st.sampled_from(users)), draw(_instants())
        rows.append(make_event(event_type, user, ts, draw(_fields(event_type, ts, users))))
        parents.append(None)
    # Corrections and voids, at or after the version they correct, each continuing a record's
    # chain from its newest version: ingest refuses a second correction of the same version
    # (tests/lake/test_ingest.py), so records are chains.
    chains = [[i] for i in range(n_base)]  # each record's chain of versions (row indexes)
    for _ in range(draw(st.integers(0, 10)) if n_base else 0):
        chain = chains[draw(st.integers(0, n_base - 1))]
        parent = chain[-1]
        rows.append(_correction(draw, rows[parent], users))
        parents.append(parent)
        chain.append(len(rows) - 1)
    # Event ids in an order unrelated to time, so that ties in ts are broken by event_id.
    ids = [f"ev-{n:03d}" for n in draw(st.permutations(range(len(rows))))]
    for row, event_id, parent in zip(rows, ids, parents, strict=True):
        row["event_id"] = event_id
        if parent is not None:
            row["supersedes"] = ids[parent]
    cut = draw(st.integers(0, len(rows)))

    # As-of dates: at an event's ts (the strict <), a microsecond either side, at the edges of
    # the windows after an event, a due date or a payment, and anywhere around the events;
    # sometimes written in another time zone.
    times = [
        datetime.fromisoformat(r[k]) for r in rows for k in ("ts", "due_ts", "paid_ts") if k in r
    ]
    near = [t + d for t in times for d in (timedelta(0), US, -US)]
    edges = [t + n * DAY + d for t in times for n in WINDOWS for d in (timedelta(0), US)]
    anywhere = st.integers(-60, SPAN_DAYS + 500).map(lambda d: T0 + d * DAY) | _instants()
    at_events = [datetime.fromisoformat(r["ts"]) for r in rows]
    instants = st.one_of(*(st.sampled_from(c) for c in (at_events, near, edges) if c), anywhere)
    zones = st.sampled_from([UTC, UTC, EAST_8])
    as_ofs = [a.astimezone(draw(zones)) for a in draw(st.lists(instants, min_size=1, max_size=3))]
    # Labels: from just before a default or any time, to a year later or exactly a later event.
    defaults = [
        datetime.fromisoformat(r["ts"]) - d
        for r in rows
        if r["type"] == "bill" and r.get("days_past_due", 0) >= 90
        for d in (US, 30 * DAY)
    ]
    starts = st.one_of(*(st.sampled_from(c) for c in (near, defaults) if c), anywhere)
    spans = []
    for as_of in draw(st.lists(starts, max_size=2)):
        later = sorted(t for t in times if t > as_of)[:6]
        spans.append((as_of, draw(st.sampled_from([as_of + 365 * DAY, *later]))))
    scored = draw(st.lists(st.sampled_from([*users, OUTSIDER]), unique=True))
    scores = {u: draw(st.floats(350, 950)) for u in scored}
    return Scenario([rows[:cut], rows[cut:]], as_ofs, spans, scores)


@pytest.mark.parametrize("engine_cls", ENGINES, ids=engine_id)
@settings(
    max_examples=45,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
def test_engine_equals_oracle_on_generated_lakes(engine_cls: type[Any], scenario: Scenario) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = build_lake(Path(tmp), scenario.batches)
        stored = lake.read().to_pylist()
        assert len(stored) == sum(len(b) for b in scenario.batches)
        engine = engine_cls()
        scores = {pseudonym(u): s for u, s in scenario.scores.items()} or None
        for as_of in scenario.as_ofs:
            note(f"features as of {as_of.isoformat()}")
            check_features(engine, lake, stored, as_of, scores)
        for as_of, until in scenario.spans:
            check_labels(engine, lake, stored, as_of, until)


# --- examples -------------------------------------------------------------------------------

AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


class Events:
    """Raw events for an example, in the order they are sent; ids ev-001, ev-002 ..."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def _next_id(self) -> str:
        return f"ev-{len(self.rows) + 1:03d}"

    def add(self, event_type: str, ts: datetime, user: str = "U1", **fields: Any) -> str:
        row = make_event(EventType(event_type), user, ts, fields)
        row["event_id"] = self._next_id()
        self.rows.append(row)
        return str(row["event_id"])

    def bill(self, ts: datetime, user: str = "U1", **fields: Any) -> str:
        """A bill report, unpaid unless ``paid_ts`` is given."""
        unpaid = {"paid_ts": None, "paid_amount": None, "due_ts": ts - 30 * DAY}
        return self.add("bill", ts, user, **{**unpaid, **fields})

    def void(self, target: str, ts: datetime) -> str:
        original = next(r for r in self.rows if r["event_id"] == target)
        event_id = self._next_id()
        self.rows.append(
            {
                "event_id": event_id,
                "user_id": original["user_id"],
                "type": original["type"],
                "ts": iso(ts),
                "supersedes": target,
                "void": True,
            }
        )
        return event_id


@dataclass
class Built:
    """A lake built from `Events`, and an engine: answers by raw user id, each checked
    against the oracle first."""

    engine: Any
    lake: ParquetLake
    stored: list[Row]

    def features(
        self, as_of: datetime, scores: Mapping[str, float] | None = None
    ) -> dict[str, Values]:
        by_pseudonym = {pseudonym(u): s for u, s in scores.items()} if scores else None
        got = check_features(self.engine, self.lake, self.stored, as_of, by_pseudonym)
        return {RAW_ID[user]: values for user, values in got.items()}

    def oracle(self, as_of: datetime) -> dict[str, Values]:
        return {RAW_ID[u]: v for u, v in oracle.features(self.stored, as_of).items()}

    def labels(self, as_of: datetime, until: datetime) -> dict[str, int]:
        got = check_labels(self.engine, self.lake, self.stored, as_of, until)
        return {RAW_ID[user]: bad for user, bad in got.items()}


@pytest.fixture(params=ENGINES, ids=engine_id)
def build(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    def make(events: Events) -> Built:
        lake = build_lake(tmp_path, [events.rows])
        return Built(request.param(), lake, lake.read().to_pylist())

    return make


def test_the_oracle_implements_every_feature_of_the_catalogue() -> None:
    assert list(oracle.FEATURES) == NAMES


def test_an_event_exactly_at_the_as_of_date_is_not_seen(build: Any) -> None:
    ev = Events()
    ev.add("payment", AS_OF - 10 * DAY, amount=1000)
    ev.add("payment", AS_OF, amount=5000)
    ev.add("payment", AS_OF, user="U2", amount=5000)
    lake = build(ev)

    at = lake.features(AS_OF)
    assert list(at) == ["U1"]  # U2's only event is at the as-of date: U2 is not known yet
    assert (at["U1"]["bp_payments_90"], at["U1"]["bp_spend_90"]) == (1.0, 10.0)
    assert at["U1"]["ch_account_age_days"] == 10.0

    after = lake.features(AS_OF + US)
    assert sorted(after) == ["U1", "U2"]
    assert (after["U1"]["bp_payments_90"], after["U1"]["bp_spend_90"]) == (2.0, 60.0)
    assert after["U2"]["ch_account_age_days"] == pytest.approx(1 / 86_400_000_000)


def test_a_naive_as_of_date_is_refused(build: Any) -> None:
    ev = Events()
    ev.add("payment", AS_OF - DAY)
    lake = build(ev)
    naive = AS_OF.replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        lake.engine.features(lake.lake, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        oracle.features(lake.stored, naive)


def test_a_correction_dated_after_the_as_of_date_is_not_applied(build: Any) -> None:
    ev = Events()
    first = ev.bill(AS_OF - 20 * DAY, due_ts=AS_OF - 120 * DAY, days_past_due=100)
    # The lender finds the bill had been paid on time, and corrects its report at AS_OF.
    ev.bill(
        AS_OF,
        supersedes=first,
        due_ts=AS_OF - 120 * DAY,
        paid_ts=AS_OF - 121 * DAY,
        paid_amount=250_000,
        days_past_due=0,
    )
    lake = build(ev)

    before = lake.features(AS_OF)["U1"]
    assert before["ch_max_dpd_365"] == 100.0
    assert before["ch_unpaid_overdue"] == 1.0
    assert before["ch_overdue_severity"] == 4.0  # 90+ days past due, still unpaid: full weight
    assert before["ch_on_time_share_365"] == 0.0

    after = lake.features(AS_OF + US)["U1"]
    assert (after["ch_bills_365"], after["ch_max_dpd_365"]) == (1.0, 0.0)  # one bill, not two
    assert (after["ch_unpaid_overdue"], after["ch_overdue_severity"]) == (0.0, 0.0)
    assert after["ch_on_time_share_365"] == 1.0


def test_a_void_removes_an_event_from_its_own_date_on(build: Any) -> None:
    ev = Events()
    luxury = ev.add("payment", AS_OF - 30 * DAY, amount=2000, merchant_category="luxury")
    ev.add("payment", AS_OF - 20 * DAY, amount=2000, merchant_category="groceries")
    ev.void(luxury, AS_OF - 5 * DAY)
    mistake = ev.add("verification", AS_OF - 60 * DAY, user="U2", kind="education")
    ev.void(mistake, AS_OF - 50 * DAY)
    lake = build(ev)

    before = lake.features(AS_OF - 5 * DAY)
    assert before["U1"]["bp_payments_90"] == 2.0
    assert before["U1"]["bp_luxury_share_180"] == 0.5
    assert before["U1"]["bp_categories_180"] == 2.0

    after = lake.features(AS_OF)
    assert after["U1"]["bp_payments_90"] == 1.0
    assert after["U1"]["bp_luxury_share_180"] == 0.0
    assert after["U1"]["bp_categories_180"] == 1.0
    # U2 sent only a mistake: still a person known before the as-of date, with every default.
    assert after["U2"] == {spec.name: spec.default for spec in CATALOG}
    assert after["U2"]["ch_on_time_share_365"] is None


def test_an_overdue_record_decays_after_repayment_halves_when_repaired_and_ends_after_5_years(
    build: Any,
) -> None:
    paid = AS_OF - 400 * DAY
    ev = Events()
    for user, repaired in (("U1", None), ("U2", True)):
        ev.bill(
            paid, user, due_ts=paid - 95 * DAY, paid_ts=paid, days_past_due=95, repaired=repaired
        )
    ev.bill(paid, "U3", due_ts=paid - 65 * DAY, days_past_due=65)  # never repaid
    ev.bill(paid, "U4", due_ts=paid - 29 * DAY, paid_ts=paid, days_past_due=29)  # under 30 days
    lake = build(ev)

    def severity(at: datetime) -> dict[str, float | None]:
        return {u: v["ch_overdue_severity"] for u, v in lake.features(at).items()}

    soon, half_year = severity(paid + DAY), severity(paid + 180 * DAY)
    assert soon["U1"] == pytest.approx(4 * math.exp(-1 / 180))
    assert half_year["U1"] == pytest.approx(4 / math.e)  # weight 4 for 90+, exp(-days/180)
    assert half_year["U2"] == pytest.approx(2 / math.e)  # repaired: half of it
    assert soon["U3"] == half_year["U3"] == 2.0  # unpaid: no decay
    assert soon["U4"] == half_year["U4"] == 0.0

    last_day, gone = severity(paid + 1826 * DAY), severity(paid + 1826 * DAY + US)
    assert last_day["U1"] == pytest.approx(4 * math.exp(-1826 / 180))
    assert last_day["U1"] > 0.0
    assert gone["U1"] == gone["U2"] == 0.0
    assert gone["U3"] == 2.0


def test_windows_include_their_first_microsecond_and_nothing_before(build: Any) -> None:
    ev = Events()
    for edge in (timedelta(0), US):
        ev.add("inquiry", AS_OF - 30 * DAY - edge)
        ev.add("payment", AS_OF - 90 * DAY - edge, amount=100 if edge else 700)
        ev.add("charity", AS_OF - 365 * DAY - edge)
        ev.bill(AS_OF - DAY, due_ts=AS_OF - 365 * DAY - edge, days_past_due=30)
        ev.add("security_event", AS_OF - 1826 * DAY - edge, kind="fraud_flag")
    values = build(ev).features(AS_OF)["U1"]
    assert (values["ch_inquiries_30"], values["ch_inquiries_365"]) == (1.0, 2.0)
    assert (values["bp_payments_90"], values["bp_spend_90"]) == (1.0, 7.0)
    assert values["bp_categories_180"] == 1.0
    assert values["bp_charity_365"] == 1.0
    assert (values["ch_bills_365"], values["ch_late30_365"], values["ch_late30_90"]) == (1, 1, 0)
    assert values["it_fraud_flags"] == 1.0
    assert values["ch_account_age_days"] == pytest.approx(1826 + 1 / 86_400_000_000)


def test_the_latest_state_of_each_asset_line_and_link_counts(build: Any) -> None:
    t1, t2 = AS_OF - 60 * DAY, AS_OF - 10 * DAY
    ev = Events()
    ev.add("asset_snapshot", t1, kind="savings", balance=1000)
    ev.add("asset_snapshot", t2, kind="savings", balance=3000)
    ev.add("asset_snapshot", t1, kind="wealth", balance=0)
    # Two snapshots at the same instant: the larger event_id (ev-005) wins.
    ev.add("asset_snapshot", t2, kind="provident_fund", balance=500)
    ev.add("asset_snapshot", t2, kind="provident_fund", balance=700)
    ev.add("credit_line", t1, account_id="card-1", action="open", credit_limit=10_000, balance=0)
    ev.add("credit_line", t2, account_id="card-1", action="close", credit_limit=10_000)
    ev.add("credit_line", t1, account_id="loan-2", action="open", credit_limit=50_000, balance=None)
    ev.add(
        "credit_line", t2, account_id="loan-2", action="update", credit_limit=50_000, balance=25_000
    )
    ev.add("social_link", t1, counterparty_id="U2", action="added")
    ev.add("social_link", t2, counterparty_id="U2", action="removed")
    ev.add("social_link", t1, counterparty_id="U3", action="added")
    values = build(ev).features(AS_OF)["U1"]
    assert (values["fc_assets"], values["fc_asset_kinds"]) == (37.0, 2.0)
    assert (values["fc_open_lines"], values["fc_credit_limit"]) == (1.0, 500.0)
    assert (values["fc_debt"], values["fc_utilization"]) == (250.0, 0.5)
    assert values["cn_friends"] == 1.0


def test_friends_bring_their_defaults_fraud_flags_and_previous_scores(build: Any) -> None:
    ev = Events()
    for friend in ("U2", "U3", OUTSIDER):
        ev.add("social_link", AS_OF - 200 * DAY, counterparty_id=friend, action="added")
    ev.bill(AS_OF - 100 * DAY, "U2", days_past_due=90)  # U2 defaulted 100 days ago
    ev.add("security_event", AS_OF - 3 * 365 * DAY, "U3", kind="fraud_flag")
    ev.add("transfer", AS_OF - 40 * DAY, counterparty_id="U3", direction="out", amount=5000)
    ev.add("transfer", AS_OF - 40 * DAY, counterparty_id="U2", direction="in", amount=700)
    lake = build(ev)

    values = lake.features(AS_OF, scores={"U2": 600.0, OUTSIDER: 700.0, "U4": 900.0})["U1"]
    assert values["cn_friends"] == 3.0
    assert values["cn_friends_defaulted_share"] == pytest.approx(1 / 3)
    assert values["cn_friends_flagged"] == 1.0
    assert values["cn_friends_mean_score"] == 650.0  # U3 has no score: left out of the mean
    assert values["cn_flagged_transfers_365"] == 1.0
    assert values["bp_transfers_out_90"] == 50.0

    assert lake.features(AS_OF)["U1"]["cn_friends_mean_score"] is None  # no previous scores
    # 300 days on, U2's default is more than a year old.
    assert lake.features(AS_OF + 300 * DAY)["U1"]["cn_friends_defaulted_share"] == 0.0


def test_labels_count_90_days_past_due_after_the_as_of_date_as_known_at_the_end(
    build: Any,
) -> None:
    ev = Events()
    for user in ("U1", "U2", "U3", "U5"):
        ev.add("payment", AS_OF - 50 * DAY, user)  # known before the as-of date
    ev.bill(AS_OF + 100 * DAY, "U1", days_past_due=95)
    ev.bill(AS_OF, "U2", days_past_due=120)  # at the as-of date: neither seen nor an outcome
    wrong = ev.bill(AS_OF + 10 * DAY, "U3", days_past_due=90)
    ev.bill(AS_OF + 20 * DAY, "U3", supersedes=wrong, days_past_due=0)  # the report was wrong
    ev.bill(AS_OF + 10 * DAY, "U4", days_past_due=90)  # U4 is new after the as-of date
    cancelled = ev.bill(AS_OF + 10 * DAY, "U5", days_past_due=90)
    ev.void(cancelled, AS_OF + 400 * DAY)  # voided, but only after the window
    lake = build(ev)

    year = lake.labels(AS_OF, AS_OF + 365 * DAY)
    assert year == {"U1": 1, "U2": 0, "U3": 0, "U5": 1}
    assert lake.labels(AS_OF, AS_OF + 100 * DAY)["U1"] == 1  # the end is included
    assert lake.labels(AS_OF, AS_OF + 100 * DAY - US)["U1"] == 0
    assert lake.labels(AS_OF, AS_OF + 15 * DAY)["U3"] == 1  # the correction is not known yet
    assert lake.labels(AS_OF, AS_OF + 500 * DAY)["U5"] == 0


# --- disagreements between the SQL and the documented intent ----------------------------------
# Found by the oracle and fixed in 71d8381.


def test_a_payment_after_the_as_of_date_leaves_the_bill_unpaid(build: Any) -> None:
    # Before 71d8381 ch_unpaid_overdue tested paid_ts IS NULL: a payment dated after the as-of
    # date counted as made, while ended_ts (and so the severity) treated the bill as unpaid.
    ev = Events()
    ev.bill(AS_OF - 10 * DAY, due_ts=AS_OF - 40 * DAY, paid_ts=AS_OF + 5 * DAY, days_past_due=30)
    lake = build(ev)
    want = lake.oracle(AS_OF)["U1"]
    assert (want["ch_unpaid_overdue"], want["ch_overdue_severity"]) == (1.0, 1.0)
    lake.features(AS_OF)


def test_a_friends_fraud_flag_stops_counting_after_five_years(build: Any) -> None:
    # Before 71d8381 a friend's (or a transfer counterparty's) fraud flag counted for ever,
    # while it_fraud_flags and "negative records stop counting 5 years after" drop it.
    ev = Events()
    ev.add("security_event", AS_OF - 1827 * DAY, "U2", kind="fraud_flag")
    ev.add("social_link", AS_OF - 100 * DAY, counterparty_id="U2", action="added")
    ev.add("transfer", AS_OF - 100 * DAY, counterparty_id="U2", direction="out", amount=100)
    lake = build(ev)
    want = lake.oracle(AS_OF)
    assert want["U2"]["it_fraud_flags"] == 0.0  # U2's own flag no longer counts
    assert (want["U1"]["cn_friends_flagged"], want["U1"]["cn_flagged_transfers_365"]) == (0, 0)
    lake.features(AS_OF)
