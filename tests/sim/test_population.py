"""The population simulator: determinism, valid events, and a generative model with signal."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from pentascore.core.errors import ConfigError
from pentascore.events.schema import LAKE_SCHEMA, Event, EventType
from pentascore.sim import (
    HAZARD_COEFFICIENTS,
    TRAITS,
    Population,
    SimulationConfig,
    default_hazard,
    simulate,
    write_population,
)

CONFIG = SimulationConfig(users=4_000, seed=11)
AS_OF = CONFIG.as_of
HORIZON_END = datetime(2026, 10, 1, tzinfo=UTC)
HISTORY_START = datetime(2023, 10, 1, tzinfo=UTC)
SMALL = SimulationConfig(users=800, months=6, horizon_months=6, seed=3)
ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)
Fmt = Literal["parquet", "csv", "jsonl"]


@pytest.fixture(scope="module")
def population() -> Population:
    return simulate(CONFIG)


@pytest.fixture(scope="module")
def small() -> Population:
    return simulate(SMALL)


@pytest.fixture(scope="module")
def con(population: Population) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("ev", population.events)
    con.register("us", population.users)
    return con


def auc(score: Any, label: Any) -> float:
    """Rank-based AUC (Mann-Whitney), ties sharing their mean rank."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(label, dtype=bool)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    pos, neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def test_auc_helper_on_known_cases() -> None:
    assert auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0}, "users must be >= 1; got 0."),
        ({"months": 0}, "months must be >= 1; got 0."),
        ({"horizon_months": -1}, "horizon_months must be >= 1; got -1."),
        ({"seed": -1}, "seed must be >= 0; got -1."),
        ({"as_of": datetime(2025, 10, 1)}, "as_of must be a timezone-aware datetime"),
        ({"currency": "RMB"}, "currency must be an ISO 4217 code"),
        ({"target_default_rate": 0.3}, "target_default_rate must be between 0.05 and 0.2"),
        ({"target_default_rate": 0.01}, "target_default_rate must be between 0.05 and 0.2"),
    ],
)
def test_config_rejects_what_cannot_work(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        SimulationConfig(**kwargs)


# --- determinism and shape -------------------------------------------------------------------


def test_same_seed_gives_equal_tables_and_another_seed_does_not(small: Population) -> None:
    again = simulate(SMALL)
    assert again.events.equals(small.events)
    assert again.users.equals(small.users)
    other = simulate(SimulationConfig(users=800, months=6, horizon_months=6, seed=4))
    assert not other.events.equals(small.events)
    assert not other.users.equals(small.users)


def test_schema_is_the_lake_schema_without_the_lake_columns(population: Population) -> None:
    expected = pa.schema([f for f in LAKE_SCHEMA if f.name not in ("batch_id", "ingested_at")])
    assert population.events.schema.equals(expected)
    assert population.users.column_names == [
        "user_id",
        *TRAITS,
        "joined_at",
        "sex",
        "birth_year",
        "default_12m",
        "default_ts",
    ]
    assert population.users.num_rows == CONFIG.users


def test_all_thirteen_types_appear_and_volume_is_about_two_per_user_month(
    population: Population,
) -> None:
    counts = population.counts_by_type()
    assert set(counts) == {t.value for t in EventType}
    assert all(n > 0 for n in counts.values()), counts
    per_user_month = population.events.num_rows / CONFIG.users / 36
    assert 1.4 < per_user_month < 2.5
    # Payments and bills are the bulk.
    assert counts["bill"] + counts["payment"] > 0.5 * population.events.num_rows


def test_events_are_sorted_by_ts_then_event_id_and_ids_are_unique(
    population: Population,
) -> None:
    ev = population.events
    assert pc.count_distinct(ev.column("event_id")).as_py() == ev.num_rows
    ts = ev.column("ts").cast(pa.int64()).to_numpy()
    ids = np.asarray(ev.column("event_id").to_pylist())
    assert (np.diff(ts) >= 0).all()
    tie = np.flatnonzero(np.diff(ts) == 0)
    assert (ids[tie] < ids[tie + 1]).all()
    assert ids[0].startswith("ev-11-")


def test_a_sample_of_every_type_validates_with_the_pydantic_models(
    population: Population,
) -> None:
    ev = population.events
    rng = np.random.default_rng(0)
    for t in EventType:
        rows = ev.filter(pc.equal(ev.column("type"), t.value))
        sample = rows.take(rng.choice(rows.num_rows, min(rows.num_rows, 300), replace=False))
        for row in sample.to_pylist():
            event = ADAPTER.validate_python({k: v for k, v in row.items() if v is not None})
            assert event.type == t.value


def test_raw_identifiers_look_like_the_platforms(population: Population) -> None:
    ev = population.events

    def values(column: str) -> list[str]:
        return [v for v in ev.column(column).unique().to_pylist() if v is not None]

    assert all(re.fullmatch(r"U\d{7}", v) for v in values("user_id"))
    assert all(re.fullmatch(r"U\d{7}", v) for v in values("counterparty_id"))
    assert all(re.fullmatch(r"A\d{8}-\d", v) for v in values("account_id"))
    assert all(re.fullmatch(r"P\d{4}", v) for v in values("partner_id"))
    assert all(re.fullmatch(r"\+86 1\d{2} \d{4} \d{4}", v) for v in values("phone"))
    assert all(
        re.fullmatch(r"No\. \d+ [\w' ]+, [\w' ]+ District, [\w' ]+", v) for v in values("address")
    )
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    for nid in values("national_id"):
        assert re.fullmatch(r"\d{17}[\dX]", nid)
        assert (
            "10X98765432"[sum(int(d) * w for d, w in zip(nid, weights, strict=False)) % 11]
            == nid[-1]
        )

    # Phones on file are distinct per user, and a phone change brings a new number.
    profile = ev.filter(pc.equal(ev.column("type"), "profile_change")).select(["user_id", "phone"])
    owners = (
        profile.filter(pc.is_valid(profile.column("phone")))
        .group_by("phone")
        .aggregate([("user_id", "count_distinct"), ("user_id", "count")])
    )
    assert pc.max(owners.column("user_id_count_distinct")).as_py() == 1
    assert pc.max(owners.column("user_id_count")).as_py() == 1
    reals = ev.filter(pc.equal(ev.column("kind"), "real_name"))
    assert pc.count_distinct(reals.column("national_id")).as_py() == reals.num_rows


def test_no_event_before_the_user_joined_or_outside_the_simulation(
    con: duckdb.DuckDBPyConnection,
) -> None:
    early, outside = con.execute(
        """SELECT count(*) FILTER (WHERE ev.ts < us.joined_at),
                  count(*) FILTER (WHERE ev.ts < $start OR ev.ts >= $end)
           FROM ev JOIN us USING (user_id)""",
        {"start": HISTORY_START, "end": HORIZON_END},
    ).fetchone() or (None, None)
    assert early == 0
    assert outside == 0


@settings(max_examples=15, deadline=None)
@given(
    users=st.integers(min_value=1, max_value=40),
    months=st.integers(min_value=1, max_value=4),
    horizon=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_any_small_config_gives_consistent_events(
    users: int, months: int, horizon: int, seed: int
) -> None:
    config = SimulationConfig(users=users, months=months, horizon_months=horizon, seed=seed)
    pop = simulate(config)
    ev = pop.events
    assert pop.users.num_rows == users
    assert pc.count_distinct(ev.column("event_id")).as_py() == ev.num_rows
    as_of_us = int(config.as_of.timestamp() * 1_000_000)
    end = datetime(2025 + (9 + horizon) // 12, (9 + horizon) % 12 + 1, 1, tzinfo=UTC)
    end_us = int(end.timestamp() * 1_000_000)
    ts = ev.column("ts").cast(pa.int64()).to_numpy()
    assert (np.diff(ts) >= 0).all()
    assert ts.max() < end_us
    bills = ev.filter(pc.equal(ev.column("type"), "bill"))
    bad_bills = bills.filter(
        pc.and_(
            pc.greater_equal(bills.column("days_past_due"), 90),
            pc.and_(
                pc.greater(bills.column("ts").cast(pa.int64()), as_of_us),
                pc.less_equal(bills.column("ts").cast(pa.int64()), end_us),
            ),
        )
    )
    expected = set(bad_bills.column("user_id").to_pylist())
    truth = pop.users.filter(pop.users.column("default_12m")).column("user_id").to_pylist()
    assert set(truth) == expected


def test_thin_files_are_about_a_tenth(population: Population) -> None:
    joined = population.users.column("joined_at").cast(pa.int64()).to_numpy()
    six_months_before = int(datetime(2025, 4, 1, tzinfo=UTC).timestamp() * 1_000_000)
    assert 0.07 < (joined > six_months_before).mean() < 0.13


# --- bills, corrections and the label --------------------------------------------------------


def test_supersedes_points_at_an_earlier_event_of_the_same_user_and_type(
    con: duckdb.DuckDBPyConnection,
) -> None:
    total, matched, bad = con.execute(
        """SELECT count(*), count(p.event_id),
                  count(*) FILTER (WHERE p.ts >= c.ts OR p.user_id <> c.user_id
                                   OR p.type <> c.type OR p.account_id <> c.account_id
                                   OR p.due_ts <> c.due_ts)
           FROM ev c LEFT JOIN ev p ON p.event_id = c.supersedes
           WHERE c.supersedes IS NOT NULL"""
    ).fetchone() or (0, 0, 0)
    assert total > 100
    assert matched == total
    assert bad == 0
    # Each event is superseded at most once: corrections form chains.
    twice = con.execute(
        "SELECT count(*) FROM (SELECT supersedes FROM ev WHERE supersedes IS NOT NULL "
        "GROUP BY 1 HAVING count(*) > 1)"
    ).fetchone()
    assert twice == (0,)


def test_bill_reports_follow_the_reporting_rules(con: duckdb.DuckDBPyConnection) -> None:
    broken = con.execute(
        """SELECT count(*) FROM ev WHERE type = 'bill' AND NOT (
             CASE WHEN paid_ts IS NULL THEN   -- a report while unpaid, every 30 days
                  days_past_due > 0 AND days_past_due % 30 = 0
                  AND ts = due_ts + to_days(days_past_due::INT) AND paid_amount = 0
             WHEN days_past_due = 0 THEN      -- paid on time: one event at payment
                  ts = paid_ts AND paid_ts <= due_ts AND supersedes IS NULL
             ELSE                             -- paid late: the final event at payment
                  ts = paid_ts AND paid_ts > due_ts AND paid_amount = amount
                  AND days_past_due = ceil(epoch(paid_ts - due_ts) / 86400)
             END)"""
    ).fetchone()
    assert broken == (0,)
    # A late payment of 30 days or more supersedes the last report; shorter ones stand alone.
    late = con.execute(
        """SELECT count(*) FILTER (WHERE days_past_due > 30 AND supersedes IS NULL),
                  count(*) FILTER (WHERE days_past_due < 30 AND supersedes IS NOT NULL),
                  count(*) FILTER (WHERE days_past_due >= 90)
           FROM ev WHERE type = 'bill' AND paid_ts IS NOT NULL"""
    ).fetchone()
    assert late is not None
    assert late[0] == 0
    assert late[1] == 0
    assert late[2] > 0  # defaults in history are later cured, very late


def test_history_has_serious_overdue_records(con: duckdb.DuckDBPyConnection) -> None:
    share = con.execute(
        """SELECT count(DISTINCT user_id) / $users FROM ev
           WHERE type = 'bill' AND days_past_due >= 90 AND ts <= $as_of""",
        {"as_of": AS_OF, "users": CONFIG.users},
    ).fetchone()
    assert share is not None
    assert 0.02 < share[0] < 0.25


def test_truth_label_is_the_rule_recomputed_from_the_events(
    population: Population, con: duckdb.DuckDBPyConnection
) -> None:
    recomputed = con.execute(
        """SELECT us.user_id, b.first_ts IS NOT NULL AS bad, b.first_ts
           FROM us LEFT JOIN (
               SELECT user_id, min(ts) AS first_ts FROM ev
               WHERE type = 'bill' AND days_past_due >= 90
                 AND ts > $as_of AND ts <= $as_of + INTERVAL 12 MONTH
               GROUP BY user_id) b USING (user_id)
           ORDER BY us.user_id""",
        {"as_of": AS_OF},
    ).fetchall()
    truth = population.users.sort_by("user_id")
    assert [r[1] for r in recomputed] == truth.column("default_12m").to_pylist()
    assert [r[2] for r in recomputed] == truth.column("default_ts").to_pylist()
    assert sum(r[1] for r in recomputed) > 0


def test_default_rate_is_near_the_target(population: Population) -> None:
    assert 0.05 <= population.default_rate <= 0.20
    assert abs(population.default_rate - CONFIG.target_default_rate) < 0.02


def test_default_rate_follows_the_configured_target() -> None:
    low = simulate(SimulationConfig(users=3_000, seed=5, target_default_rate=0.06))
    high = simulate(SimulationConfig(users=3_000, seed=5, target_default_rate=0.18))
    assert 0.05 <= low.default_rate < 0.08
    assert 0.15 < high.default_rate <= 0.20


# --- the generative model --------------------------------------------------------------------

_TRAIT_VALUE = st.floats(min_value=-3, max_value=3, allow_nan=False)
_EXPECTED_SIGN = {
    "discipline": -1,
    "wealth": -1,
    "stability": -1,
    "sociability": -1,
    "fraud_exposure": 1,
    "peer_discipline": -1,
    "stress": 1,
}


@settings(max_examples=60, deadline=None)
@given(
    base=st.fixed_dictionaries(dict.fromkeys(_EXPECTED_SIGN, _TRAIT_VALUE)),
    step=st.floats(min_value=0.1, max_value=2.0),
    intercept=st.floats(min_value=-8, max_value=-2),
)
def test_hazard_partial_effect_of_every_trait_has_the_expected_sign(
    base: dict[str, float], step: float, intercept: float
) -> None:
    before = float(default_hazard(**base, intercept=intercept))
    assert 0 < before < 1
    for name, sign in _EXPECTED_SIGN.items():
        after = float(default_hazard(**{**base, name: base[name] + step}, intercept=intercept))
        assert np.sign(after - before) == sign, name
        assert np.sign(HAZARD_COEFFICIENTS[name]) == sign


@pytest.mark.parametrize(
    ("trait", "direction"),
    [
        ("discipline", -1),
        ("wealth", -1),
        ("stability", -1),
        ("sociability", -1),
        ("fraud_exposure", 1),
    ],
)
def test_default_rate_differs_between_top_and_bottom_quintile_of_each_trait(
    population: Population, trait: str, direction: int
) -> None:
    x = population.users.column(trait).to_numpy()
    y = population.users.column("default_12m").to_numpy(zero_copy_only=False)
    low, high = np.quantile(x, [0.2, 0.8])
    gap = y[x >= high].mean() - y[x <= low].mean()
    assert direction * gap > 0.04, (trait, gap)


_DIMENSIONS_SQL = """
WITH h AS (SELECT * FROM ev WHERE ts <= $as_of),
overdue AS (SELECT user_id, count(*) AS n FROM h
            WHERE type = 'bill' AND days_past_due >= 30 GROUP BY 1),
spend AS (SELECT user_id, sum(amount) AS total FROM h WHERE type = 'payment' GROUP BY 1),
assets AS (SELECT user_id, arg_max(balance, ts) AS latest FROM h
           WHERE type = 'asset_snapshot' GROUP BY 1),
verified AS (SELECT user_id, count(*) AS n FROM h WHERE type = 'verification' GROUP BY 1),
serious AS (SELECT DISTINCT user_id FROM h WHERE type = 'bill' AND days_past_due >= 90),
links AS (SELECT user_id, counterparty_id,
                 sum(CASE WHEN action = 'added' THEN 1 ELSE -1 END) AS alive
          FROM h WHERE type = 'social_link' GROUP BY 1, 2),
friends AS (SELECT l.user_id, avg((s.user_id IS NOT NULL)::INT) AS bad_share
            FROM links l LEFT JOIN serious s ON s.user_id = l.counterparty_id
            WHERE l.alive > 0 GROUP BY 1)
SELECT us.default_12m,
       coalesce(overdue.n, 0) AS credit_history,
       coalesce(spend.total, 0) / (SELECT median(coalesce(s.total, 0))
                                  FROM us u LEFT JOIN spend s USING (user_id)) AS behavior,
       coalesce(assets.latest, 0) AS capacity,
       coalesce(verified.n, 0) AS identity,
       coalesce(friends.bad_share, 0) AS connections
FROM us LEFT JOIN overdue USING (user_id) LEFT JOIN spend USING (user_id)
     LEFT JOIN assets USING (user_id) LEFT JOIN verified USING (user_id)
     LEFT JOIN friends USING (user_id)
"""


@pytest.mark.parametrize(
    ("dimension", "direction"),
    [
        ("credit_history", 1),  # serious overdue records
        ("behavior", 1),  # spending beyond one's means
        ("capacity", -1),  # assets
        ("identity", -1),  # verified identity information
        ("connections", 1),  # friends with serious overdue records
    ],
)
def test_every_dimension_carries_signal_from_history_alone(
    con: duckdb.DuckDBPyConnection, dimension: str, direction: int
) -> None:
    data = con.execute(_DIMENSIONS_SQL, {"as_of": AS_OF}).fetchnumpy()
    value = auc(data[dimension], data["default_12m"])
    assert direction * (value - 0.5) > 0.03, (dimension, value)


def test_profile_changes_signal_instability(con: duckdb.DuckDBPyConnection) -> None:
    data = con.execute(
        """SELECT us.default_12m, count(ev.event_id) AS changes FROM us LEFT JOIN ev
             ON ev.user_id = us.user_id AND ev.type = 'profile_change' AND ev.ts <= $as_of
           GROUP BY us.user_id, us.default_12m""",
        {"as_of": AS_OF},
    ).fetchnumpy()
    assert auc(data["changes"], data["default_12m"]) > 0.53


def test_friendships_are_homophilous(con: duckdb.DuckDBPyConnection) -> None:
    corr = con.execute(
        """SELECT corr(own, friends) FROM (
             SELECT any_value(me.discipline) AS own, avg(them.discipline) AS friends
             FROM ev JOIN us me ON me.user_id = ev.user_id
                     JOIN us them ON them.user_id = ev.counterparty_id
             WHERE ev.type = 'social_link' AND ev.action = 'added'
             GROUP BY ev.user_id)"""
    ).fetchone()
    assert corr is not None
    assert corr[0] > 0.3


def test_fraud_exposed_users_transfer_with_flagged_accounts(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        """WITH flagged AS (SELECT DISTINCT user_id FROM ev WHERE kind = 'fraud_flag'),
                t AS (SELECT ev.user_id, avg((f.user_id IS NOT NULL)::INT) AS risky
                      FROM ev LEFT JOIN flagged f ON f.user_id = ev.counterparty_id
                      WHERE ev.type = 'transfer' GROUP BY 1)
           SELECT us.fraud_exposure > 1 AS exposed, avg(t.risky)
           FROM t JOIN us USING (user_id) GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    (_, unexposed), (_, exposed) = rows
    assert exposed > 2 * unexposed


# --- writing ---------------------------------------------------------------------------------

_TZ_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_write_population_reads_back(small: Population, tmp_path: Path, fmt: Fmt) -> None:
    seen: list[int] = []
    meta = write_population(small, tmp_path, fmt, progress=seen.append)
    files = sorted((tmp_path / "events").iterdir())
    assert [f.name for f in files] == meta["files"]
    assert len(files) == 12  # one per calendar month
    assert all(re.fullmatch(rf"events-\d{{4}}-\d{{2}}\.{fmt}", f.name) for f in files)
    assert sum(seen) == small.events.num_rows == meta["events"]
    assert len(seen) == len(files)

    con = duckdb.connect()
    reader = {
        "parquet": "read_parquet({})",
        "csv": "read_csv({})",
        "jsonl": "read_json({}, union_by_name = true, sample_size = -1)",
    }[fmt].format(f"'{tmp_path / 'events'}/*.{fmt}'")
    back = con.execute(
        f"SELECT count(*), count(DISTINCT event_id), sum(amount), count(supersedes), "
        f"count(national_id) FROM {reader}"
    ).fetchone()
    ev = small.events
    assert back == (
        ev.num_rows,
        ev.num_rows,
        pc.sum(ev.column("amount")).as_py(),
        pc.count(ev.column("supersedes")).as_py(),
        pc.count(ev.column("national_id")).as_py(),
    )
    if fmt == "csv":
        header, first = files[0].read_text().splitlines()[:2]
        ts = dict(zip(header.split(","), first.split(","), strict=False))["ts"]
        assert _TZ_TIMESTAMP.fullmatch(ts), ts
        assert datetime.fromisoformat(ts).tzinfo is not None
        assert ",," in first  # nulls are empty cells
    if fmt == "jsonl":
        record = json.loads(files[0].read_text().splitlines()[0])
        assert _TZ_TIMESTAMP.fullmatch(record["ts"]), record["ts"]
        assert datetime.fromisoformat(record["ts"]).tzinfo is not None
        assert record.get("amount") is None  # nulls are null (or absent)
        bill = next(
            json.loads(line) for line in files[-1].read_text().splitlines() if '"bill"' in line
        )
        assert {"account_id", "due_ts", "days_past_due"} <= bill.keys()
        assert "merchant_category" not in bill

    users = pq.read_table(tmp_path / "truth" / "users.parquet")
    assert users.equals(small.users)
    on_disk = json.loads((tmp_path / "truth" / "meta.json").read_text())
    assert on_disk == meta
    assert meta["as_of"] == "2025-10-01T00:00:00+00:00"
    assert meta["users"] == 800 and meta["months"] == 6 and meta["horizon_months"] == 6
    assert sum(meta["by_type"].values()) == meta["events"]
    assert meta["default_rate"] == pytest.approx(small.default_rate)
    assert "days_past_due >= 90" in meta["label"]


def test_writing_is_byte_identical_for_the_same_population(
    small: Population, tmp_path: Path
) -> None:
    formats: tuple[Fmt, ...] = ("parquet", "csv")
    for fmt in formats:
        write_population(small, tmp_path / "a", fmt)
        write_population(simulate(SMALL), tmp_path / "b", fmt)
        a, b = sorted((tmp_path / "a").rglob("*.*")), sorted((tmp_path / "b").rglob("*.*"))
        assert [p.relative_to(tmp_path / "a") for p in a] == [
            p.relative_to(tmp_path / "b") for p in b
        ]
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))


def test_rewriting_replaces_the_event_files_of_another_format(
    small: Population, tmp_path: Path
) -> None:
    write_population(small, tmp_path, "csv")
    write_population(small, tmp_path, "parquet")
    assert {p.suffix for p in (tmp_path / "events").iterdir()} == {".parquet"}
