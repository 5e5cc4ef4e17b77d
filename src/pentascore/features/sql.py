"""The one point-in-time feature query, rendered for each engine's SQL dialect.

Everything an engine runs is built here, once: the point-in-time view of the lake, the named
relations features aggregate over, and one aggregate per feature. Feature aggregates are
written in a SQL subset that DuckDB and Spark SQL both accept, plus three macros that the
dialect expands:

- ``$age(col)``: days from ``col`` to the as-of date (a float);
- ``$within(col, N)``: ``col`` lies in the N days before the as-of date;
- ``$code(col, a, b, ...)``: 1, 2, 4 ... for the values a, b ... of ``col`` (0 otherwise), to
  count distinct values as ``bit_count(bit_or($code(...)))``, which is much cheaper than
  ``COUNT(DISTINCT ...)`` on both engines.

Point in time: a feature as of D sees only events with ``ts < D``; a correction counts only if
it too came before D.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pentascore.features.spec import FeatureSpec, Relation
from pentascore.lake.store import superseded_sql

MICROS_PER_DAY = 86_400_000_000
# The lake columns features read: reading fewer columns is most of what makes the query fast.
EVENT_COLUMNS = (
    "event_id",
    "user_id",
    "type",
    "ts",
    "account_id",
    "product",
    "amount",
    "due_ts",
    "paid_ts",
    "paid_amount",
    "days_past_due",
    "repaired",
    "action",
    "credit_limit",
    "balance",
    "scenario",
    "outcome",
    "channel",
    "merchant_category",
    "counterparty_id",
    "direction",
    "utility",
    "kind",
)
DEFAULTED_DPD = 90
NEGATIVE_RECORD_DAYS = 1826  # negative records stop counting 5 years after they ended


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines' SQL: how to read a timestamp as microseconds and how
    to write one, and the names of three functions."""

    name: str
    micros_fn: str
    timestamp_literal: str  # format with the UTC time as "YYYY-MM-DD HH:MM:SS.ffffff"
    struct_fn: str  # a struct of columns, its fields named after them
    list_fn: str  # the aggregate that collects values into a list, duplicates kept
    explode_fn: str  # a row per element of a list

    def micros(self, expr: str) -> str:
        return f"{self.micros_fn}({expr})"

    def timestamp(self, at: datetime) -> str:
        text = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return self.timestamp_literal.format(text)


DUCKDB = Dialect("duckdb", "epoch_us", "TIMESTAMPTZ '{}+00:00'", "struct_pack", "list", "unnest")
SPARK = Dialect("spark", "unix_micros", "TIMESTAMP '{}'", "struct", "collect_list", "explode")

_MACRO = re.compile(r"\$(age|within|code)\(([^()]*)\)")


def expand(text: str, dialect: Dialect, as_of_us: int) -> str:
    """``text`` with its macros written out for ``dialect``."""

    def one(match: re.Match[str]) -> str:
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",")]
        if name == "age":
            # A double divisor on both engines: Spark reads 86400000000.0 as an exact decimal.
            day = f"CAST({MICROS_PER_DAY} AS DOUBLE)"
            return f"(({as_of_us} - {dialect.micros(args[0])}) / {day})"
        if name == "within":
            column, days = args
            return f"({dialect.micros(column)} >= {as_of_us - int(days) * MICROS_PER_DAY})"
        column, values = args[0], args[1:]
        cases = " ".join(f"WHEN {v} THEN {1 << i}" for i, v in enumerate(values))
        return f"(CASE {column} {cases} ELSE 0 END)"

    expanded = _MACRO.sub(one, text)
    if "$" in expanded:
        raise ValueError(f"unknown or nested macro in: {text}")
    return expanded


def aggregates(
    dialect: Dialect, specs: Sequence[FeatureSpec], relation: Relation, as_of_us: int
) -> list[str]:
    """The ``specs`` over ``relation``, each as ``<aggregate> AS <name>``."""
    return [
        f"{expand(s.aggregate, dialect, as_of_us)} AS {s.name}"
        for s in specs
        if s.relation == relation
    ]


def relation_sql(
    dialect: Dialect,
    specs: Sequence[FeatureSpec],
    as_of: datetime,
    *,
    lake: str,
    previous_scores: str,
    users: Sequence[str] | None = None,
) -> str:
    """The WITH clause that defines every `Relation`, ``agg_events`` (a row per person with a
    current event: the aggregates of the ``specs`` over ``events``, and the flags their
    friends and counterparties are read by) and the person ``spine``, as of ``as_of``.

    ``lake`` and ``previous_scores`` name tables the engine has registered: the lake's events,
    and last run's scores (user_id, score; possibly empty). ``users`` limits the spine to
    those people (a single person's refresh); their friends' events are still read.

    The lake is read once. ``stored`` is every stored event before the as-of date with
    whether it is ``current`` (neither voided nor superseded by a correction before then), and
    everything that reads it is an aggregate, so that an engine can stream the events through
    all of them at once instead of holding them: the spine is the people of ``agg_events`` and
    those whose every event is no longer current; the latest state of each asset, line or
    link is the greatest (ts, event_id, columns...) struct of its group; transfers are
    collected per (person, counterparty), joined to the counterparty's flag, then unnested.
    Each of these carries only the columns its features name.
    """
    as_of_us = _micros(as_of)
    at = dialect.timestamp(as_of)
    only = "" if users is None else f" AND user_id IN ({_string_list(users)})"
    # For chosen people, their features read only their own events and those of the people
    # they link to or transfer with (whose flags feed the connections features).
    near = (
        ""
        if users is None
        else f"""
          AND (p.user_id IN ({_string_list(users)}) OR p.user_id IN (
              SELECT counterparty_id FROM {lake}
              WHERE user_id IN ({_string_list(users)}) AND counterparty_id IS NOT NULL))"""
    )

    def x(text: str) -> str:
        return expand(text, dialect, as_of_us)

    def used(relation: Relation, *always: str) -> list[str]:
        """The event columns the features of ``relation`` name, and ``always``."""
        text = " ".join(s.aggregate for s in specs if s.relation == relation)
        return [c for c in EVENT_COLUMNS if c in always or re.search(rf"\b{c}\b", text) is not None]

    def latest(relation: Relation, event_type: str, key: str, *always: str) -> str:
        """The latest current event of ``event_type`` per person and ``key``, by ts then
        event_id: the greatest struct that starts with them (and holds the other columns)."""
        rest = [c for c in used(relation, *always) if c not in ("user_id", "ts", "event_id", key)]
        fields = ["ts", "event_id", *rest]
        greatest = f"max({dialect.struct_fn}({', '.join(fields)}))"
        return (
            f"SELECT user_id, {key}, {', '.join(f'latest.{c} AS {c}' for c in fields)} FROM (\n"
            f"            SELECT user_id, {key}, {greatest} AS latest\n"
            f"            FROM events WHERE type = '{event_type}' GROUP BY user_id, {key}\n"
            f"        ) l"
        )

    flags = (
        f"max(CASE WHEN type = 'bill' AND days_past_due >= {DEFAULTED_DPD}"
        f" AND {x('$within(ts, 365)')} THEN 1 ELSE 0 END) AS defaulted,"
        f" max(CASE WHEN type = 'security_event' AND kind = 'fraud_flag'"
        f" AND {x(f'$age(ts) <= {NEGATIVE_RECORD_DAYS}')} THEN 1 ELSE 0 END) AS flagged"
    )
    transfer_columns = [
        c for c in used(Relation.TRANSFERS_FLAGGED) if c not in ("user_id", "counterparty_id")
    ] or ["event_id"]
    return f"""
    corrections AS (
        SELECT event_id, ts, supersedes FROM {lake} WHERE ts < {at} AND supersedes IS NOT NULL
    ),
    superseded AS (
        {superseded_sql("corrections", "true")}
    ),
    stored AS (
        SELECT {", ".join("p." + c for c in EVENT_COLUMNS)},
               NOT coalesce(p.void, false) AND s.event_id IS NULL AS current
        FROM {lake} p LEFT JOIN superseded s ON s.event_id = p.event_id
        WHERE p.ts < {at}{near}
    ),
    events AS (
        SELECT {", ".join(EVENT_COLUMNS)} FROM stored WHERE current
    ),
    agg_events AS (
        SELECT user_id, {", ".join([*aggregates(dialect, specs, Relation.EVENTS, as_of_us), flags])}
        FROM events GROUP BY user_id
    ),
    spine AS (
        SELECT user_id FROM agg_events WHERE true{only}
        UNION
        SELECT user_id FROM stored WHERE NOT current{only}
    ),
    bills AS (
        SELECT e.*,
               CASE WHEN e.paid_ts IS NOT NULL AND e.paid_ts < {at} THEN e.paid_ts ELSE {at} END
                   AS ended_ts,
               CASE WHEN e.paid_ts IS NOT NULL AND e.paid_ts < {at} THEN 1 ELSE 0 END AS paid,
               CASE WHEN e.days_past_due >= 120 THEN 8
                    WHEN e.days_past_due >= {DEFAULTED_DPD} THEN 4
                    WHEN e.days_past_due >= 60 THEN 2
                    WHEN e.days_past_due >= 30 THEN 1
                    ELSE 0 END AS severity
        FROM events e WHERE e.type = 'bill'
    ),
    latest_assets AS (
        {latest(Relation.LATEST_ASSETS, "asset_snapshot", "kind")}
    ),
    latest_lines AS (
        {latest(Relation.LATEST_LINES, "credit_line", "account_id", "action")}
        WHERE latest.action <> 'close'
    ),
    links AS (
        {latest(Relation.FRIENDS, "social_link", "counterparty_id", "action")}
        WHERE latest.action = 'added'
    ),
    friends AS (
        SELECT l.user_id, l.counterparty_id,
               coalesce(f.defaulted, 0) AS friend_defaulted,
               coalesce(f.flagged, 0) AS friend_flagged,
               s.score AS friend_score
        FROM links l
        LEFT JOIN agg_events f ON f.user_id = l.counterparty_id
        LEFT JOIN {previous_scores} s ON s.user_id = l.counterparty_id
    ),
    transfers AS (
        SELECT user_id, counterparty_id,
               {dialect.list_fn}({dialect.struct_fn}({", ".join(transfer_columns)})) AS transfers
        FROM events WHERE type = 'transfer' GROUP BY user_id, counterparty_id
    ),
    transfers_flagged AS (
        SELECT user_id, counterparty_id, counterparty_flagged,
               {", ".join(f"transfer.{c} AS {c}" for c in transfer_columns)}
        FROM (
            SELECT t.user_id, t.counterparty_id, coalesce(f.flagged, 0) AS counterparty_flagged,
                   {dialect.explode_fn}(t.transfers) AS transfer
            FROM transfers t LEFT JOIN agg_events f ON f.user_id = t.counterparty_id
        ) u
    )"""


def feature_sql(
    dialect: Dialect,
    specs: Sequence[FeatureSpec],
    as_of: datetime,
    *,
    lake: str = "lake",
    previous_scores: str = "previous_scores",
    users: Sequence[str] | None = None,
) -> str:
    """One query: a row per person with an event before ``as_of`` (of ``users``, when given),
    a column per feature."""
    as_of_us = _micros(as_of)

    relations = relation_sql(
        dialect, specs, as_of, lake=lake, previous_scores=previous_scores, users=users
    )
    ctes = [relations.strip()]
    joins = ["LEFT JOIN agg_events ON agg_events.user_id = spine.user_id"]
    for relation in Relation:
        mine = aggregates(dialect, specs, relation, as_of_us)
        if relation == Relation.EVENTS or not mine:
            continue
        alias = f"agg_{relation.value}"
        ctes.append(
            f"{alias} AS (SELECT user_id, {', '.join(mine)} FROM {relation.value} GROUP BY user_id)"
        )
        joins.append(f"LEFT JOIN {alias} ON {alias}.user_id = spine.user_id")
    columns = ["spine.user_id AS user_id"]
    for s in specs:
        value = f"agg_{s.relation.value}.{s.name}"
        if s.default is not None:
            value = f"coalesce({value}, {float(s.default)!r})"
        columns.append(f"CAST({value} AS DOUBLE) AS {s.name}")
    return (
        "WITH " + ",\n".join(ctes) + "\n"
        f"SELECT {', '.join(columns)}\nFROM spine\n" + "\n".join(joins) + "\nORDER BY user_id"
    )


def label_sql(dialect: Dialect, as_of: datetime, until: datetime, *, lake: str = "lake") -> str:
    """A row per person with an event before ``as_of``: ``bad`` is 1 when a bill reached
    90+ days past due in (as_of, until], by the corrections known at ``until``."""
    at, end = dialect.timestamp(as_of), dialect.timestamp(until)
    return f"""
    WITH superseded AS (
        {superseded_sql(lake, f"ts <= {end}")}
    ),
    current_events AS (
        SELECT * FROM {lake} p
        WHERE p.ts <= {end} AND NOT coalesce(p.void, false)
          AND NOT EXISTS (SELECT 1 FROM superseded s WHERE s.event_id = p.event_id)
    ),
    spine AS (SELECT DISTINCT user_id FROM {lake} WHERE ts < {at}),
    bad AS (
        SELECT DISTINCT user_id FROM current_events
        WHERE type = 'bill' AND days_past_due >= {DEFAULTED_DPD} AND ts > {at}
    )
    SELECT spine.user_id AS user_id,
           CASE WHEN bad.user_id IS NULL THEN 0 ELSE 1 END AS bad
    FROM spine LEFT JOIN bad ON bad.user_id = spine.user_id
    ORDER BY user_id
    """


def depth_sql(
    dialect: Dialect, as_of: datetime, *, lake: str = "lake", users: Sequence[str] | None = None
) -> str:
    """How deep each person's file is as of ``as_of``: the age in days of their oldest
    current event and of their latest one (voided and superseded records do not count).
    Inquiries are partners' reads, not the person's activity, and do not count either."""
    as_of_us = _micros(as_of)
    at = dialect.timestamp(as_of)
    only = "" if users is None else f" AND user_id IN ({_string_list(users)})"
    return f"""
    WITH superseded AS (
        {superseded_sql(lake, f"ts < {at}")}
    )
    SELECT user_id,
           CAST(max({expand("$age(ts)", dialect, as_of_us)}) AS DOUBLE) AS file_age_days,
           CAST(min({expand("$age(ts)", dialect, as_of_us)}) AS DOUBLE) AS last_activity_days
    FROM {lake} p
    WHERE ts < {at} AND type <> 'inquiry' AND NOT coalesce(p.void, false)
      AND NOT EXISTS (SELECT 1 FROM superseded s WHERE s.event_id = p.event_id){only}
    GROUP BY user_id
    ORDER BY user_id
    """


def deep_feature_sql(
    dialect: Dialect,
    specs: Sequence[FeatureSpec],
    as_of: datetime,
    *,
    min_file_age_days: float,
    max_quiet_days: float,
    lake: str = "lake",
    depth_lake: str = "lake",
    previous_scores: str = "previous_scores",
    users: Sequence[str] | None = None,
    ordered: bool = True,
) -> str:
    """`feature_sql`'s rows of only the people whose file is deep enough (`depth_sql` over
    ``depth_lake``: a current record of their own at least ``min_file_age_days`` old and one
    at most ``max_quiet_days`` old). ``ordered`` sorts the rows by ``user_id``."""
    features = feature_sql(
        dialect, specs, as_of, lake=lake, previous_scores=previous_scores, users=users
    )
    depth = depth_sql(dialect, as_of, lake=depth_lake, users=users)
    order = "\nORDER BY f.user_id" if ordered else ""
    return (
        f"SELECT f.* FROM ({features}) f\n"
        f"JOIN ({depth}) d ON d.user_id = f.user_id\n"
        f"WHERE d.file_age_days >= CAST({float(min_file_age_days)!r} AS DOUBLE)\n"
        f"  AND d.last_activity_days <= CAST({float(max_quiet_days)!r} AS DOUBLE)" + order
    )


def _string_list(values: Sequence[str]) -> str:
    if not values:
        return "NULL"
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _micros(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError(f"as_of must be timezone-aware; got {at.isoformat()}.")
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
