"""A slow, plain-Python reference for every feature of the catalogue and for the labels.

This is the truth the feature engines are tested against (``test_pit_oracle.py``). It is
written from what each feature *means*, one small function per feature over plain lists of
events, and never looks at the SQL. Input is what the lake holds: ``ParquetLake.read()``
rows (pseudonymized ids, timezone-aware datetimes, integer money in minor units).

Point in time, as of a date D:

- only events with ``ts < D`` are known (the labels know everything up to ``until``);
- an event opens a *record* (a bill, a snapshot, a purchase ...); an event with
  ``supersedes`` is a later version of the record of the event it names (a correction), and
  a ``void`` version cancels the record;
- a record has one current version: of its known versions that no known version replaces,
  the latest (by ts, then event_id). Usually that is the end of a chain of corrections; the
  rule also settles forks (two corrections of one version, perhaps each corrected again).
  A void current version means the record is gone.

So a correction dated on or after D is not applied and the version it replaces still counts,
and a void dated on or after D removes nothing yet. Everything else about a record is read
from its current version, its ts included (a correction carries the time it was made).

Feature values: counts and sums over nothing are 0; a feature that is undefined for a person
(a share with nothing to divide by, a mean, minimum or maximum over nothing) takes the
catalogue's default, which is None for shares, means and "days since", 0 otherwise. Windows
of N days hold times ``t >= D - N days`` (to the microsecond); ages are ``(D - t)`` in days.

"Latest" (asset snapshots, credit lines, social links) orders by ts and then by event_id:
with two versions at the same instant, the larger event_id wins. Nothing documents a
tie-break; this is the deterministic rule the SQL uses, kept so that ties are tested.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pentascore.events.schema import MERCHANT_CATEGORIES, SCENARIOS
from pentascore.features.catalog import CATALOG

Event = dict[str, Any]
Value = float | None

MICROSECOND = timedelta(microseconds=1)
MICROS_PER_DAY = 86_400_000_000
DEFAULTED_DPD = 90  # "bad": 90 or more days past due
NEGATIVE_RECORD_DAYS = 1826  # negative records stop counting 5 years after they ended
HALF_LIFE_SCALE_DAYS = 180.0  # overdue weight is multiplied by exp(-days since it ended / 180)
REPAIRED_FACTOR = 0.5

VERIFIED_KINDS = ("education", "employment", "vehicle", "property")


# --- point in time ------------------------------------------------------------------------


def current_view(events: Iterable[Event], known: Callable[[datetime], bool]) -> list[Event]:
    """The current version of every record, as seen by someone who knows exactly the events
    whose ``ts`` passes ``known`` (see the module docstring)."""
    stored = list(events)
    by_id = {e["event_id"]: e for e in stored}

    def record_of(event: Event) -> str:
        # The record's first version: follow `supersedes` back as far as it goes.
        path = [event["event_id"]]
        while event["supersedes"] is not None and event["supersedes"] in by_id:
            event = by_id[event["supersedes"]]
            if event["event_id"] in path:  # a loop of corrections: name it by its least id
                return str(min(path[path.index(event["event_id"]) :]))
            path.append(event["event_id"])
        return str(event["event_id"])

    seen = [e for e in stored if known(e["ts"])]
    replaced = {e["supersedes"] for e in seen if e["supersedes"] is not None}
    newest: dict[str, Event] = {}
    for event in seen:
        if event["event_id"] in replaced:
            continue
        record = record_of(event)
        if record not in newest or _latest_first(event) > _latest_first(newest[record]):
            newest[record] = event
    return [e for e in newest.values() if not e["void"]]


def _latest_first(event: Event) -> tuple[datetime, str]:
    return event["ts"], event["event_id"]


def latest(events: Iterable[Event]) -> Event:
    """The latest of several versions of one thing: by ts, then by event_id."""
    return max(events, key=_latest_first)


def within(at: datetime, as_of: datetime, days: int) -> bool:
    """``at`` lies in the window of ``days`` days before ``as_of`` (its start included)."""
    return at >= as_of - timedelta(days=days)


def age_days(at: datetime, as_of: datetime) -> float:
    """Days from ``at`` to ``as_of``, with the microseconds counted exactly."""
    return ((as_of - at) // MICROSECOND) / MICROS_PER_DAY


# --- what one person looks like as of a date ------------------------------------------------


@dataclass(frozen=True)
class Bill:
    """The current report of one bill, with when its overdue record ended and its weight."""

    event: Event
    paid: bool  # paid in full before the as-of date
    ended: datetime  # when it was paid, or the as-of date while unpaid
    severity: int  # 0 (on time, or under 30 days late), 1, 2, 4, 8


@dataclass(frozen=True)
class Friend:
    defaulted: bool  # the friend went 90+ days past due in the last 12 months
    flagged: bool  # the friend is flagged for fraud
    score: float | None  # the friend's previous score, if any


@dataclass(frozen=True)
class Person:
    """Everything the features read about one person, as of ``as_of``."""

    as_of: datetime
    events: list[Event]  # current events
    bills: list[Bill]
    latest_assets: list[Event]  # the latest snapshot of each kind of asset
    open_lines: list[Event]  # the latest state of each credit line, unless it was closed
    friends: list[Friend]
    transfers: list[tuple[Event, bool]]  # (transfer, the counterparty is flagged for fraud)

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.events if e["type"] == event_type]

    def recent(self, event_type: str, days: int) -> list[Event]:
        return [e for e in self.of_type(event_type) if within(e["ts"], self.as_of, days)]

    def bills_due(self, days: int) -> list[Bill]:
        # The window has no end: a bill reported before the as-of date but due after it
        # (paid early, say) counts as due in the window, as `$within` does.
        return [b for b in self.bills if within(b.event["due_ts"], self.as_of, days)]


def severity(days_past_due: int) -> int:
    for threshold, weight in ((120, 8), (DEFAULTED_DPD, 4), (60, 2), (30, 1)):
        if days_past_due >= threshold:
            return weight
    return 0


def _bill(event: Event, as_of: datetime) -> Bill:
    paid_ts = event["paid_ts"]
    paid = paid_ts is not None and paid_ts < as_of
    return Bill(
        event=event,
        paid=paid,
        ended=paid_ts if paid else as_of,
        severity=severity(event["days_past_due"]),
    )


def _defaulted(events: list[Event], as_of: datetime) -> bool:
    return any(
        e["type"] == "bill" and e["days_past_due"] >= DEFAULTED_DPD and within(e["ts"], as_of, 365)
        for e in events
    )


def _flagged(events: list[Event], as_of: datetime) -> bool:
    # A fraud flag counts for 5 years, for the person and for everyone reading it (friends,
    # transfers), like every negative record.
    return any(
        e["type"] == "security_event"
        and e["kind"] == "fraud_flag"
        and age_days(e["ts"], as_of) <= NEGATIVE_RECORD_DAYS
        for e in events
    )


def people(
    events: Iterable[Event], as_of: datetime, previous_scores: Mapping[str, float] | None = None
) -> dict[str, Person]:
    """Every person with any stored event before ``as_of`` (void and replaced ones too)."""
    stored = list(events)
    scores = previous_scores or {}
    spine = {e["user_id"] for e in stored if e["ts"] < as_of}
    mine: dict[str, list[Event]] = {}
    for event in current_view(stored, lambda ts: ts < as_of):
        mine.setdefault(event["user_id"], []).append(event)

    def flagged(user: str) -> bool:
        return _flagged(mine.get(user, []), as_of)

    result = {}
    for user in sorted(spine):
        own = mine.get(user, [])
        assets: dict[str, list[Event]] = {}
        lines: dict[str, list[Event]] = {}
        links: dict[str, list[Event]] = {}
        for e in own:
            if e["type"] == "asset_snapshot":
                assets.setdefault(e["kind"], []).append(e)
            elif e["type"] == "credit_line":
                lines.setdefault(e["account_id"], []).append(e)
            elif e["type"] == "social_link":
                links.setdefault(e["counterparty_id"], []).append(e)
        line_states = [latest(states) for states in lines.values()]
        friends = [
            Friend(
                defaulted=_defaulted(mine.get(other, []), as_of),
                flagged=flagged(other),
                score=scores.get(other),
            )
            for other, versions in links.items()
            if latest(versions)["action"] == "added"
        ]
        result[user] = Person(
            as_of=as_of,
            events=own,
            bills=[_bill(e, as_of) for e in own if e["type"] == "bill"],
            latest_assets=[latest(snapshots) for snapshots in assets.values()],
            open_lines=[s for s in line_states if s["action"] != "close"],
            friends=friends,
            transfers=[(e, flagged(e["counterparty_id"])) for e in own if e["type"] == "transfer"],
        )
    return result


# --- the features ---------------------------------------------------------------------------


def share(part: float, whole: float) -> Value:
    """``part / whole``, undefined when there is nothing to divide by."""
    return None if whole == 0 else part / whole


def mean(values: list[float]) -> Value:
    return None if not values else math.fsum(values) / len(values)


def _max_dpd_365(p: Person) -> Value:
    return max((b.event["days_past_due"] for b in p.bills_due(365)), default=0)


def _overdue_severity(p: Person) -> Value:
    total = 0.0
    for b in p.bills:
        days = age_days(b.ended, p.as_of)
        if b.severity > 0 and days <= NEGATIVE_RECORD_DAYS:
            repaired = REPAIRED_FACTOR if b.event["repaired"] else 1.0
            total += b.severity * math.exp(-days / HALF_LIFE_SCALE_DAYS) * repaired
    return total


def _account_age(p: Person) -> Value:
    return max((age_days(e["ts"], p.as_of) for e in p.events), default=None)


def _days_since_profile_change(p: Person) -> Value:
    ages = [age_days(e["ts"], p.as_of) for e in p.of_type("profile_change")]
    return min(ages, default=None)


def _on_time_fulfilments(p: Person) -> list[Event]:
    return [e for e in p.recent("service_fulfillment", 365) if e["outcome"] == "on_time"]


def _payments(p: Person, days: int) -> list[Event]:
    return p.recent("payment", days)


def _amount(events: Iterable[Event]) -> int:
    return sum(e["amount"] for e in events)


def _count_kind(p: Person, event_type: str, kinds: tuple[str, ...], days: int) -> int:
    return sum(1 for e in p.recent(event_type, days) if e["kind"] in kinds)


FEATURES: dict[str, Callable[[Person], Value]] = {
    # credit history
    "ch_bills_365": lambda p: len(p.bills_due(365)),
    "ch_late30_365": lambda p: sum(1 for b in p.bills_due(365) if b.event["days_past_due"] >= 30),
    "ch_late30_90": lambda p: sum(1 for b in p.bills_due(90) if b.event["days_past_due"] >= 30),
    "ch_late1_180": lambda p: sum(1 for b in p.bills_due(180) if b.event["days_past_due"] >= 1),
    "ch_max_dpd_365": _max_dpd_365,
    "ch_unpaid_overdue": lambda p: sum(
        1 for b in p.bills if not b.paid and b.event["days_past_due"] >= 1
    ),
    "ch_overdue_severity": _overdue_severity,
    "ch_on_time_share_365": lambda p: share(
        sum(1 for b in p.bills_due(365) if b.event["days_past_due"] == 0), len(p.bills_due(365))
    ),
    "ch_fulfilled_365": lambda p: len(_on_time_fulfilments(p)),
    "ch_fulfilment_scenarios_365": lambda p: len(
        {e["scenario"] for e in _on_time_fulfilments(p)} & set(SCENARIOS)
    ),
    "ch_fulfilment_defaults_365": lambda p: sum(
        1 for e in p.recent("service_fulfillment", 365) if e["outcome"] in ("late", "defaulted")
    ),
    "ch_inquiries_30": lambda p: len(p.recent("inquiry", 30)),
    "ch_inquiries_365": lambda p: len(p.recent("inquiry", 365)),
    "ch_account_age_days": _account_age,
    # behavior preference
    "bp_payments_90": lambda p: len(_payments(p, 90)),
    "bp_spend_90": lambda p: _amount(_payments(p, 90)) / 100,
    "bp_categories_180": lambda p: len(
        {e["merchant_category"] for e in _payments(p, 180)} & set(MERCHANT_CATEGORIES)
    ),
    "bp_online_share_180": lambda p: share(
        sum(1 for e in _payments(p, 180) if e["channel"] == "online"), len(_payments(p, 180))
    ),
    "bp_luxury_share_180": lambda p: share(
        _amount(e for e in _payments(p, 180) if e["merchant_category"] in ("luxury", "gaming")),
        _amount(_payments(p, 180)),
    ),
    # A utility payment that does not say how late it was counts as paid on time.
    "bp_utility_paid_365": lambda p: sum(
        1 for e in p.recent("utility_payment", 365) if (e["days_past_due"] or 0) == 0
    ),
    "bp_utility_late_365": lambda p: sum(
        1 for e in p.recent("utility_payment", 365) if (e["days_past_due"] or 0) > 0
    ),
    "bp_charity_365": lambda p: len(p.recent("charity", 365)),
    "bp_transfers_out_90": lambda p: (
        _amount(e for e in p.recent("transfer", 90) if e["direction"] == "out") / 100
    ),
    # fulfillment capacity
    "fc_assets": lambda p: _amount_of(p.latest_assets, "balance") / 100,
    "fc_asset_kinds": lambda p: sum(1 for e in p.latest_assets if e["balance"] > 0),
    "fc_open_lines": lambda p: len(p.open_lines),
    "fc_credit_limit": lambda p: _amount_of(p.open_lines, "credit_limit") / 100,
    "fc_utilization": lambda p: share(
        _amount_of(p.open_lines, "balance"), _amount_of(p.open_lines, "credit_limit")
    ),
    "fc_debt": lambda p: _amount_of(p.open_lines, "balance") / 100,
    # identity traits
    "it_real_name": lambda p: int(any(e["kind"] == "real_name" for e in p.of_type("verification"))),
    "it_verified_kinds": lambda p: len(
        {e["kind"] for e in p.of_type("verification")} & set(VERIFIED_KINDS)
    ),
    "it_phone_changes_365": lambda p: _count_kind(p, "profile_change", ("phone",), 365),
    "it_address_changes_365": lambda p: _count_kind(p, "profile_change", ("address",), 365),
    "it_days_since_profile_change": _days_since_profile_change,
    "it_security_events_365": lambda p: _count_kind(
        p, "security_event", ("abnormal_login", "account_theft"), 365
    ),
    "it_fraud_flags": lambda p: sum(
        1
        for e in p.of_type("security_event")
        if e["kind"] == "fraud_flag" and age_days(e["ts"], p.as_of) <= NEGATIVE_RECORD_DAYS
    ),
    # connections
    "cn_friends": lambda p: len(p.friends),
    "cn_friends_defaulted_share": lambda p: mean([float(f.defaulted) for f in p.friends]),
    "cn_friends_flagged": lambda p: sum(1 for f in p.friends if f.flagged),
    "cn_friends_mean_score": lambda p: mean([f.score for f in p.friends if f.score is not None]),
    "cn_flagged_transfers_365": lambda p: sum(
        1 for e, flagged in p.transfers if flagged and within(e["ts"], p.as_of, 365)
    ),
}


def _amount_of(events: Iterable[Event], name: str) -> int:
    """The sum of a money field; a missing value (an optional balance) counts as 0."""
    return sum(e[name] or 0 for e in events)


DEFAULTS: dict[str, float | None] = {spec.name: spec.default for spec in CATALOG}


def features(
    events: Iterable[Event],
    as_of: datetime,
    previous_scores: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Value]]:
    """user_id -> feature name -> value, for every person with an event before ``as_of``.

    ``previous_scores`` maps user_id (pseudonym) -> last run's score.
    """
    if as_of.tzinfo is None:
        raise ValueError(f"as_of must be timezone-aware; got {as_of.isoformat()}.")
    table = {}
    for user, person in people(events, as_of, previous_scores).items():
        row: dict[str, Value] = {}
        for spec in CATALOG:
            value = FEATURES[spec.name](person)
            row[spec.name] = DEFAULTS[spec.name] if value is None else float(value)
        table[user] = row
    return table


def labels(events: Iterable[Event], as_of: datetime, until: datetime) -> dict[str, int]:
    """user_id -> 1 when a bill of the person was reported 90+ days past due in
    ``(as_of, until]``, by the corrections known at ``until``; 0 otherwise. For every person
    with an event before ``as_of``."""
    stored = list(events)
    spine = {e["user_id"] for e in stored if e["ts"] < as_of}
    bad = {
        e["user_id"]
        for e in current_view(stored, lambda ts: ts <= until)
        if e["type"] == "bill" and e["days_past_due"] >= DEFAULTED_DPD and as_of < e["ts"] <= until
    }
    return {user: int(user in bad) for user in sorted(spine)}
