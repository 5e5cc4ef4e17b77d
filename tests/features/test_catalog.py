"""The catalogue is data that covers what the sources describe, and renders in every dialect."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pentascore.core.types import Dimension
from pentascore.events.schema import EventType
from pentascore.features.catalog import CATALOG, FEATURES_BY_NAME
from pentascore.features.docs import render_features_doc
from pentascore.features.spec import Direction
from pentascore.features.sql import DUCKDB, SPARK, expand, feature_sql

AS_OF = datetime(2025, 10, 1, tzinfo=UTC)


def test_names_are_unique_and_each_dimension_has_several() -> None:
    assert len(FEATURES_BY_NAME) == len(CATALOG)
    for dimension in Dimension:
        assert sum(f.dimension == dimension for f in CATALOG) >= 4, dimension


# Every effect of SPEC.md's "Effects" list, and the feature(s) that express it.
EFFECTS = {
    "overdue records, decaying after repayment, lighter once repaired": ["ch_overdue_severity"],
    "recent overdue bills": ["ch_late30_365", "ch_late30_90", "ch_max_dpd_365"],
    "unpaid overdue bills": ["ch_unpaid_overdue"],
    "more on-time fulfilled agreements": ["ch_fulfilled_365", "ch_on_time_share_365"],
    "variety of fulfilled scenarios": ["ch_fulfilment_scenarios_365"],
    "moderate, diverse consumption": ["bp_categories_180", "bp_spend_90"],
    "spending beyond one's means": ["bp_luxury_share_180", "fc_utilization"],
    "stable phone and address": [
        "it_phone_changes_365",
        "it_address_changes_365",
        "it_days_since_profile_change",
    ],
    "assets raise capacity": ["fc_assets", "fc_asset_kinds"],
    "debt lowers capacity": ["fc_debt", "fc_utilization"],
    "number of credit products": ["fc_open_lines"],
    "verified identity information": ["it_real_name", "it_verified_kinds"],
    "charity and utility payments": ["bp_charity_365", "bp_utility_paid_365"],
    "friends with good credit": ["cn_friends_defaulted_share", "cn_friends_mean_score"],
    "interaction with risky accounts": ["cn_flagged_transfers_365", "cn_friends_flagged"],
    "account theft and abnormal logins": ["it_security_events_365", "it_fraud_flags"],
    "many score queries in a short time": ["ch_inquiries_30"],
    "account age as the starting point": ["ch_account_age_days"],
}


@pytest.mark.parametrize("effect", list(EFFECTS))
def test_every_effect_of_the_spec_is_expressed(effect: str) -> None:
    for name in EFFECTS[effect]:
        assert name in FEATURES_BY_NAME, (effect, name)


def test_every_event_type_feeds_some_feature() -> None:
    fed = {t for f in CATALOG for t in f.sources}
    assert fed == set(EventType)


def test_directions_and_actionability_are_stated_where_the_sources_are_clear() -> None:
    get = FEATURES_BY_NAME.__getitem__
    assert get("ch_late30_365").direction is Direction.INCREASES_RISK
    assert get("fc_assets").direction is Direction.DECREASES_RISK
    assert get("fc_open_lines").direction is Direction.UNKNOWN  # about 3-5 is best
    assert get("ch_late30_365").actionable
    assert not get("ch_account_age_days").actionable
    assert not get("cn_friends_defaulted_share").actionable  # nobody should drop friends
    for feature in CATALOG:
        assert "{value}" in feature.sentence, feature.name


def test_macros_expand_per_dialect() -> None:
    as_of_us = 1_759_276_800_000_000  # 2025-10-01T00:00:00Z
    assert expand("$within(ts, 1)", DUCKDB, as_of_us) == "(epoch_us(ts) >= 1759190400000000)"
    assert expand("$within(ts, 1)", SPARK, as_of_us) == "(unix_micros(ts) >= 1759190400000000)"
    assert expand("$age(x)", DUCKDB, as_of_us) == (
        "((1759276800000000 - epoch_us(x)) / CAST(86400000000 AS DOUBLE))"
    )
    assert (
        expand("$code(k, 'a', 'b')", DUCKDB, 0)
        == "(CASE k WHEN 'a' THEN 1 WHEN 'b' THEN 2 ELSE 0 END)"
    )
    with pytest.raises(ValueError, match="macro"):
        expand("$nope(x)", DUCKDB, 0)


def test_the_query_is_one_text_per_dialect() -> None:
    duck, spark = feature_sql(DUCKDB, CATALOG, AS_OF), feature_sql(SPARK, CATALOG, AS_OF)
    assert "$" not in duck and "$" not in spark
    # Only the dialect's timestamps and function names differ.
    for a, b in [
        ("epoch_us(", "unix_micros("),
        ("struct_pack(", "struct("),
        ("list(", "collect_list("),
        ("unnest(", "explode("),
        (
            "TIMESTAMPTZ '2025-10-01 00:00:00.000000+00:00'",
            "TIMESTAMP '2025-10-01 00:00:00.000000'",
        ),
    ]:
        assert a in duck
        duck = duck.replace(a, b)
    assert duck == spark


def test_docs_features_md_is_generated_from_the_catalogue() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "features.md"
    assert doc.read_text() == render_features_doc(), (
        "docs/features.md is stale: run python -m pentascore.features.docs > docs/features.md"
    )
