"""Things a person can do, written as the events they would produce.

An action turns the person's current events (to find their accounts and overdue bills) into
hypothetical future events; a what-if reads them as if they were in the lake. Event ids start
with ``whatif-`` and identifiers are the person's pseudonym, as in the lake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from pentascore.core.dates import add_months
from pentascore.events.schema import LAKE_SCHEMA

Rows = list[dict[str, Any]]
_DEFAULT_BILL = 100_000  # minor units, when the person has no bill to copy
_UTILITY_BILL = 20_000


@dataclass(frozen=True)
class RepairPolicy:
    """Which repaid overdue bills can be repaired (settings ``repair_*``): at most
    ``max_amount`` minor units, repaid in full at most ``max_days_to_repay`` after due."""

    max_amount: int = 1_000_000
    max_days_to_repay: int = 365

    def allows(self, amount: int, due: datetime, paid: datetime) -> bool:
        return amount <= self.max_amount and (paid - due).days <= self.max_days_to_repay


@dataclass(frozen=True)
class Action:
    name: str
    text: str  # what the person would do, in plain words
    months: int  # how long until it has fully happened
    make: Callable[[str, Rows, datetime], Rows]


def _bills(history: Rows) -> Rows:
    return sorted((e for e in history if e["type"] == "bill"), key=lambda e: e["ts"])


def _repay_on_time(months: int) -> Callable[[str, Rows, datetime], Rows]:
    def make(user: str, history: Rows, at: datetime) -> Rows:
        bills = _bills(history)
        last = bills[-1] if bills else {}
        rows = []
        for m in range(1, months + 1):
            due = add_months(at, m)
            amount = last.get("amount") or _DEFAULT_BILL
            rows.append(
                {
                    "type": "bill",
                    "account_id": last.get("account_id") or "whatif-account",
                    "product": last.get("product") or "credit_card",
                    "amount": amount,
                    "currency": last.get("currency") or "CNY",
                    "due_ts": due,
                    "paid_ts": due - timedelta(days=1),
                    "paid_amount": amount,
                    "days_past_due": 0,
                    # Reported when paid, so it is seen by a score as of the due date.
                    "ts": due - timedelta(days=1),
                }
            )
        return rows

    return make


def _pay_utilities(months: int) -> Callable[[str, Rows, datetime], Rows]:
    def make(user: str, history: Rows, at: datetime) -> Rows:
        return [
            {
                "type": "utility_payment",
                "utility": "electricity",
                "amount": _UTILITY_BILL,
                "currency": "CNY",
                "ts": add_months(at, m) - timedelta(days=3),
            }
            for m in range(1, months + 1)
        ]

    return make


def _verify(kind: str) -> Callable[[str, Rows, datetime], Rows]:
    def make(user: str, history: Rows, at: datetime) -> Rows:
        done = any(e["type"] == "verification" and e.get("kind") == kind for e in history)
        return (
            [] if done else [{"type": "verification", "kind": kind, "ts": at + timedelta(days=1)}]
        )

    return make


def _repay_and_repair(user: str, history: Rows, at: datetime) -> Rows:
    """Each overdue bill still unpaid is paid in full tomorrow and repaired: a correction that
    supersedes its current report."""
    rows = []
    for bill in _bills(history):
        if bill.get("paid_ts") is None and (bill.get("days_past_due") or 0) >= 1:
            tomorrow = at + timedelta(days=1)
            rows.append(
                {
                    **{k: bill.get(k) for k in ("account_id", "product", "amount", "currency")},
                    "type": "bill",
                    "due_ts": bill["due_ts"],
                    "days_past_due": bill["days_past_due"],
                    "paid_ts": tomorrow,
                    "paid_amount": bill["amount"],
                    "repaired": True,
                    "supersedes": bill["event_id"],
                    "ts": tomorrow,
                }
            )
    return rows


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("repay_on_time_3m", "repay your bills on time for 3 months", 3, _repay_on_time(3)),
        Action("repay_on_time_6m", "repay your bills on time for 6 months", 6, _repay_on_time(6)),
        Action("pay_utilities_6m", "pay your utility bills for 6 months", 6, _pay_utilities(6)),
        Action("verify_education", "verify your education", 1, _verify("education")),
        Action("verify_employment", "verify your employment", 1, _verify("employment")),
        Action(
            "repay_and_repair",
            "repay your overdue bills in full and ask for them to be repaired",
            1,
            _repay_and_repair,
        ),
    )
}


def action_events(
    user: str,
    history: Rows,
    at: datetime,
    names: list[str],
    batch: str = "whatif",
    policy: RepairPolicy | None = None,
) -> pa.Table:
    """The hypothetical events of the named actions, as a `LAKE_SCHEMA` table. A repair the
    ``policy`` would refuse (default: the default policy) is left out: no promise of points
    the person cannot get."""
    policy = policy if policy is not None else RepairPolicy()
    rows: Rows = []
    for name in names:
        made = ACTIONS[name].make(user, history, at)
        if name == "repay_and_repair":
            made = [r for r in made if policy.allows(r["amount"], r["due_ts"], r["paid_ts"])]
        for i, row in enumerate(made):
            rows.append(
                {
                    **row,
                    "event_id": f"whatif-{name}-{i}",
                    "user_id": user,
                    "batch_id": batch,
                    "ingested_at": at,
                }
            )
    return pa.Table.from_pylist(rows, schema=LAKE_SCHEMA)
