"""Every feature of the five dimensions, written once, as data.

Each entry says what it measures, from which events, over which window, how it relates to
risk, whether the person can act on it, and the plain sentence shown in reason codes. The
aggregates use the macros of `pentascore.features.sql`; no engine is imported here.
docs/features.md is generated from this list (`python -m pentascore.features.docs`).
"""

from __future__ import annotations

from pentascore.core.types import Dimension
from pentascore.events.schema import EventType
from pentascore.features.spec import Direction, FeatureSpec, Relation

D = Dimension
E = EventType
R = Relation
UP, DOWN, UNKNOWN = Direction.INCREASES_RISK, Direction.DECREASES_RISK, Direction.UNKNOWN

_SCENARIOS = "'bike', 'power_bank', 'hotel', 'car_rental', 'flat_rental', 'lending', 'other'"
_CATEGORIES = (
    "'groceries', 'dining', 'transport', 'travel', 'electronics', 'apparel', 'entertainment', "
    "'health', 'education', 'home', 'luxury', 'gaming', 'other'"
)
_VERIFIED = "'education', 'employment', 'vehicle', 'property'"


def _f(
    name: str,
    dimension: Dimension,
    sources: tuple[EventType, ...],
    relation: Relation,
    aggregate: str,
    direction: Direction,
    actionable: bool,
    sentence: str,
    *,
    window: int | None = None,
    default: float | None = 0.0,
) -> FeatureSpec:
    return FeatureSpec(
        name=name,
        dimension=dimension,
        sources=sources,
        relation=relation,
        aggregate=" ".join(aggregate.split()),
        default=default,
        window_days=window,
        direction=direction,
        actionable=actionable,
        sentence=sentence,
    )


CATALOG: tuple[FeatureSpec, ...] = (
    # --- credit history -------------------------------------------------------------------
    _f(
        "ch_bills_365",
        D.CREDIT_HISTORY,
        (E.BILL,),
        R.BILLS,
        "sum(CASE WHEN $within(due_ts, 365) THEN 1 ELSE 0 END)",
        DOWN,
        True,
        "{value} bills due in the last 12 months",
        window=365,
    ),
    _f(
        "ch_late30_365",
        D.CREDIT_HISTORY,
        (E.BILL,),
        R.BILLS,
        "sum(CASE WHEN days_past_due >= 30 AND $within(due_ts, 365) THEN 1 ELSE 0 END)",
        UP,
        True,
        "{value} bills paid more than 30 days late in the last 12 months",
        window=365,
    ),
    _f(
        "ch_late30_90",
        D.CREDIT_HISTORY,
        (E.BILL,),
        R.BILLS,
        "sum(CASE WHEN days_past_due >= 30 AND $within(due_ts, 90) THEN 1 ELSE 0 END)",
        UP,
        True,
        "{value} bills more than 30 days late in the last 3 months",
        window=90,
    ),
    _f(
        "ch_late1_180",
        D.CREDIT_HISTORY,
        (E.BILL,),
        R.BILLS,
        "sum(CASE WHEN days_past_due >= 1 AND $within(due_ts, 180) THEN 1 ELSE 0 END)",
        UP,
        True,
        "{value} bills paid late in the last 6 months",
        window=180,
    ),
    _f(
        "ch_max_dpd_365",
        D.CREDIT_HISTORY,
        (E.BILL,),
        R.BILLS,
        "max(CASE WHEN $within(due_ts, 365) THEN days_past_due ELSE 0 END)",
        UP,
        True,
        "a bill was {value} days past due in the last 12 months",
        window=365,
    ),
    _f(
        "ch_unpaid_overdue",
        D.CREDIT_HISTORY,
        (E.BILL,),
        R.BILLS,
        "sum(CASE WHEN paid = 0 AND days_past_due >= 1 THEN 1 ELSE 0 END)",
        UP,
        True,
        "{value} overdue bills not yet repaid",
    ),
    _f(
        "ch_overdue_severity",
        D.CREDIT_HISTORY,
        (E.BILL,),
        R.BILLS,
        """sum(CASE WHEN severity > 0 AND $age(ended_ts) <= 1826
                THEN severity * exp(-$age(ended_ts) / 180.0)
                     * (CASE WHEN coalesce(repaired, false) THEN 0.5 ELSE 1.0 END)
                ELSE 0.0 END)""",
        UP,
        True,
        "overdue records weigh {value}: their weight halves about every 4 months after "
        "repayment, halves again once repaired, and is gone after 5 years",
    ),
    _f(
        "ch_on_time_share_365",
        D.CREDIT_HISTORY,
        (E.BILL,),
        R.BILLS,
        """CAST(sum(CASE WHEN days_past_due = 0 AND $within(due_ts, 365) THEN 1 ELSE 0 END)
                AS DOUBLE)
           / CAST(nullif(sum(CASE WHEN $within(due_ts, 365) THEN 1 ELSE 0 END), 0) AS DOUBLE)""",
        DOWN,
        True,
        "{value} of bills paid on time in the last 12 months",
        window=365,
        default=None,
    ),
    _f(
        "ch_fulfilled_365",
        D.CREDIT_HISTORY,
        (E.SERVICE_FULFILLMENT,),
        R.EVENTS,
        """sum(CASE WHEN type = 'service_fulfillment' AND outcome = 'on_time'
                AND $within(ts, 365) THEN 1 ELSE 0 END)""",
        DOWN,
        True,
        "{value} rentals and services returned or paid on time in 12 months",
        window=365,
    ),
    _f(
        "ch_fulfilment_scenarios_365",
        D.CREDIT_HISTORY,
        (E.SERVICE_FULFILLMENT,),
        R.EVENTS,
        f"""bit_count(bit_or(CASE WHEN type = 'service_fulfillment' AND outcome = 'on_time'
                AND $within(ts, 365) THEN $code(scenario, {_SCENARIOS}) ELSE 0 END))""",
        DOWN,
        True,
        "kept agreements in {value} kinds of scenario in 12 months",
        window=365,
    ),
    _f(
        "ch_fulfilment_defaults_365",
        D.CREDIT_HISTORY,
        (E.SERVICE_FULFILLMENT,),
        R.EVENTS,
        """sum(CASE WHEN type = 'service_fulfillment' AND outcome IN ('late', 'defaulted')
                AND $within(ts, 365) THEN 1 ELSE 0 END)""",
        UP,
        True,
        "{value} rentals or services returned late or not paid in 12 months",
        window=365,
    ),
    _f(
        "ch_inquiries_30",
        D.CREDIT_HISTORY,
        (E.INQUIRY,),
        R.EVENTS,
        "sum(CASE WHEN type = 'inquiry' AND $within(ts, 30) THEN 1 ELSE 0 END)",
        UP,
        True,
        "{value} score queries in the last 30 days",
        window=30,
    ),
    _f(
        "ch_inquiries_365",
        D.CREDIT_HISTORY,
        (E.INQUIRY,),
        R.EVENTS,
        "sum(CASE WHEN type = 'inquiry' AND $within(ts, 365) THEN 1 ELSE 0 END)",
        UP,
        True,
        "{value} score queries in the last 12 months",
        window=365,
    ),
    _f(
        "ch_account_age_days",
        D.CREDIT_HISTORY,
        tuple(EventType),
        R.EVENTS,
        "max($age(ts))",
        DOWN,
        False,
        "the account's first record is {value} days old",
    ),
    # --- behavior preference --------------------------------------------------------------
    _f(
        "bp_payments_90",
        D.BEHAVIOR_PREFERENCE,
        (E.PAYMENT,),
        R.EVENTS,
        "sum(CASE WHEN type = 'payment' AND $within(ts, 90) THEN 1 ELSE 0 END)",
        UNKNOWN,
        True,
        "{value} purchases in the last 3 months",
        window=90,
    ),
    _f(
        "bp_spend_90",
        D.BEHAVIOR_PREFERENCE,
        (E.PAYMENT,),
        R.EVENTS,
        "sum(CASE WHEN type = 'payment' AND $within(ts, 90) THEN amount ELSE 0 END) / 100.0",
        UNKNOWN,
        True,
        "{value} spent in the last 3 months",
        window=90,
    ),
    _f(
        "bp_categories_180",
        D.BEHAVIOR_PREFERENCE,
        (E.PAYMENT,),
        R.EVENTS,
        f"""bit_count(bit_or(CASE WHEN type = 'payment' AND $within(ts, 180)
                THEN $code(merchant_category, {_CATEGORIES}) ELSE 0 END))""",
        DOWN,
        True,
        "purchases in {value} kinds of shop in the last 6 months",
        window=180,
    ),
    _f(
        "bp_online_share_180",
        D.BEHAVIOR_PREFERENCE,
        (E.PAYMENT,),
        R.EVENTS,
        """CAST(sum(CASE WHEN type = 'payment' AND channel = 'online' AND $within(ts, 180)
                THEN 1 ELSE 0 END) AS DOUBLE)
           / CAST(nullif(sum(CASE WHEN type = 'payment' AND $within(ts, 180)
                THEN 1 ELSE 0 END), 0) AS DOUBLE)""",
        UNKNOWN,
        True,
        "{value} of purchases made online in the last 6 months",
        window=180,
        default=None,
    ),
    _f(
        "bp_luxury_share_180",
        D.BEHAVIOR_PREFERENCE,
        (E.PAYMENT,),
        R.EVENTS,
        """CAST(sum(CASE WHEN type = 'payment' AND merchant_category IN ('luxury', 'gaming')
                AND $within(ts, 180) THEN amount ELSE 0 END) AS DOUBLE)
           / CAST(nullif(sum(CASE WHEN type = 'payment' AND $within(ts, 180)
                THEN amount ELSE 0 END), 0) AS DOUBLE)""",
        UP,
        True,
        "{value} of spending on luxury goods and gaming in 6 months",
        window=180,
        default=None,
    ),
    _f(
        "bp_utility_paid_365",
        D.BEHAVIOR_PREFERENCE,
        (E.UTILITY_PAYMENT,),
        R.EVENTS,
        """sum(CASE WHEN type = 'utility_payment' AND coalesce(days_past_due, 0) = 0
                AND $within(ts, 365) THEN 1 ELSE 0 END)""",
        DOWN,
        True,
        "{value} utility bills paid on time in 12 months",
        window=365,
    ),
    _f(
        "bp_utility_late_365",
        D.BEHAVIOR_PREFERENCE,
        (E.UTILITY_PAYMENT,),
        R.EVENTS,
        """sum(CASE WHEN type = 'utility_payment' AND days_past_due > 0
                AND $within(ts, 365) THEN 1 ELSE 0 END)""",
        UP,
        True,
        "{value} utility bills paid late in 12 months",
        window=365,
    ),
    _f(
        "bp_charity_365",
        D.BEHAVIOR_PREFERENCE,
        (E.CHARITY,),
        R.EVENTS,
        "sum(CASE WHEN type = 'charity' AND $within(ts, 365) THEN 1 ELSE 0 END)",
        DOWN,
        True,
        "{value} donations or green acts in 12 months",
        window=365,
    ),
    _f(
        "bp_transfers_out_90",
        D.BEHAVIOR_PREFERENCE,
        (E.TRANSFER,),
        R.EVENTS,
        """sum(CASE WHEN type = 'transfer' AND direction = 'out' AND $within(ts, 90)
                THEN amount ELSE 0 END) / 100.0""",
        UNKNOWN,
        True,
        "{value} sent to others in the last 3 months",
        window=90,
    ),
    # --- fulfillment capacity -------------------------------------------------------------
    _f(
        "fc_assets",
        D.FULFILLMENT_CAPACITY,
        (E.ASSET_SNAPSHOT,),
        R.LATEST_ASSETS,
        "sum(balance) / 100.0",
        DOWN,
        True,
        "{value} held in savings, wealth products and the provident fund",
    ),
    _f(
        "fc_asset_kinds",
        D.FULFILLMENT_CAPACITY,
        (E.ASSET_SNAPSHOT,),
        R.LATEST_ASSETS,
        "sum(CASE WHEN balance > 0 THEN 1 ELSE 0 END)",
        DOWN,
        True,
        "{value} kinds of assets held",
    ),
    _f(
        "fc_open_lines",
        D.FULFILLMENT_CAPACITY,
        (E.CREDIT_LINE,),
        R.LATEST_LINES,
        "count(*)",
        UNKNOWN,
        True,
        "{value} open credit products",
    ),
    _f(
        "fc_credit_limit",
        D.FULFILLMENT_CAPACITY,
        (E.CREDIT_LINE,),
        R.LATEST_LINES,
        "sum(credit_limit) / 100.0",
        DOWN,
        False,
        "{value} of credit granted on open lines",
    ),
    _f(
        "fc_utilization",
        D.FULFILLMENT_CAPACITY,
        (E.CREDIT_LINE,),
        R.LATEST_LINES,
        """CAST(sum(coalesce(balance, 0)) AS DOUBLE)
           / CAST(nullif(sum(credit_limit), 0) AS DOUBLE)""",
        UP,
        True,
        "{value} of credit limits in use",
        default=None,
    ),
    _f(
        "fc_debt",
        D.FULFILLMENT_CAPACITY,
        (E.CREDIT_LINE,),
        R.LATEST_LINES,
        "sum(coalesce(balance, 0)) / 100.0",
        UP,
        True,
        "{value} owed on open credit lines",
    ),
    # --- identity traits ------------------------------------------------------------------
    _f(
        "it_real_name",
        D.IDENTITY_TRAITS,
        (E.VERIFICATION,),
        R.EVENTS,
        "max(CASE WHEN type = 'verification' AND kind = 'real_name' THEN 1 ELSE 0 END)",
        DOWN,
        True,
        "real-name verification: {value}",
    ),
    _f(
        "it_verified_kinds",
        D.IDENTITY_TRAITS,
        (E.VERIFICATION,),
        R.EVENTS,
        f"""bit_count(bit_or(CASE WHEN type = 'verification'
                THEN $code(kind, {_VERIFIED}) ELSE 0 END))""",
        DOWN,
        True,
        "{value} of education, job, vehicle and property verified",
    ),
    _f(
        "it_phone_changes_365",
        D.IDENTITY_TRAITS,
        (E.PROFILE_CHANGE,),
        R.EVENTS,
        """sum(CASE WHEN type = 'profile_change' AND kind = 'phone' AND $within(ts, 365)
                THEN 1 ELSE 0 END)""",
        UP,
        True,
        "phone number changed {value} times in 12 months",
        window=365,
    ),
    _f(
        "it_address_changes_365",
        D.IDENTITY_TRAITS,
        (E.PROFILE_CHANGE,),
        R.EVENTS,
        """sum(CASE WHEN type = 'profile_change' AND kind = 'address' AND $within(ts, 365)
                THEN 1 ELSE 0 END)""",
        UP,
        True,
        "address changed {value} times in 12 months",
        window=365,
    ),
    _f(
        "it_days_since_profile_change",
        D.IDENTITY_TRAITS,
        (E.PROFILE_CHANGE,),
        R.EVENTS,
        "min(CASE WHEN type = 'profile_change' THEN $age(ts) END)",
        DOWN,
        False,
        "phone and address unchanged for {value} days",
        default=None,
    ),
    _f(
        "it_security_events_365",
        D.IDENTITY_TRAITS,
        (E.SECURITY_EVENT,),
        R.EVENTS,
        """sum(CASE WHEN type = 'security_event' AND kind IN ('abnormal_login', 'account_theft')
                AND $within(ts, 365) THEN 1 ELSE 0 END)""",
        UP,
        False,
        "{value} abnormal logins or account thefts in 12 months",
        window=365,
    ),
    _f(
        "it_fraud_flags",
        D.IDENTITY_TRAITS,
        (E.SECURITY_EVENT,),
        R.EVENTS,
        """sum(CASE WHEN type = 'security_event' AND kind = 'fraud_flag'
                AND $age(ts) <= 1826 THEN 1 ELSE 0 END)""",
        UP,
        False,
        "{value} fraud flags on the account",
    ),
    # --- connections ----------------------------------------------------------------------
    _f(
        "cn_friends",
        D.CONNECTIONS,
        (E.SOCIAL_LINK,),
        R.FRIENDS,
        "count(*)",
        UNKNOWN,
        False,
        "{value} friends",
    ),
    _f(
        "cn_friends_defaulted_share",
        D.CONNECTIONS,
        (E.SOCIAL_LINK, E.BILL),
        R.FRIENDS,
        "avg(CAST(friend_defaulted AS DOUBLE))",
        UP,
        False,
        "{value} of friends went 90+ days overdue in 12 months",
        default=None,
    ),
    _f(
        "cn_friends_flagged",
        D.CONNECTIONS,
        (E.SOCIAL_LINK, E.SECURITY_EVENT),
        R.FRIENDS,
        "sum(friend_flagged)",
        UP,
        False,
        "{value} friends flagged for fraud",
    ),
    _f(
        "cn_friends_mean_score",
        D.CONNECTIONS,
        (E.SOCIAL_LINK,),
        R.FRIENDS,
        "avg(friend_score)",
        DOWN,
        False,
        "friends' average score last month: {value}",
        default=None,
    ),
    _f(
        "cn_flagged_transfers_365",
        D.CONNECTIONS,
        (E.TRANSFER, E.SECURITY_EVENT),
        R.TRANSFERS_FLAGGED,
        "sum(CASE WHEN counterparty_flagged = 1 AND $within(ts, 365) THEN 1 ELSE 0 END)",
        UP,
        True,
        "{value} transfers with accounts flagged for fraud in 12 months",
        window=365,
    ),
)

FEATURES_BY_NAME: dict[str, FeatureSpec] = {f.name: f for f in CATALOG}
