"""The pages' words and charts, and the pages themselves through the FastAPI test client over a
copy of the scored home: overdue repair, the model registry (compare, promote), Chinese."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pentascore.core.settings import DEV_OPERATOR_TOKEN
from pentascore.core.types import Dimension
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.events.schema import EventType
from pentascore.explain.actions import ACTIONS, RepairPolicy
from pentascore.features.catalog import CATALOG
from pentascore.lake import ParquetLake
from pentascore.model.registry import ModelRegistry
from pentascore.model.scale import BAND_NAMES, band_names
from pentascore.model.train import Trained
from pentascore.scores.run import NEEDS
from pentascore.service.corrections import write_correction
from pentascore.service.db import AuditEntry, Database
from pentascore.service.reads import OUTCOMES
from pentascore.service.remedies import explainer_of
from pentascore.web import charts
from pentascore.web.i18n import (
    ACTION_TEXTS,
    BAND_LABELS,
    FEATURE_SENTENCES,
    MESSAGES,
    NEEDS_ZH,
    OPERATOR_REFUSALS,
    REFUSALS,
    format_value,
    reason_text,
    word_for,
)
from pentascore.web.pages import add_pages, repairable
from tests.conftest import KEY, NOW, ScoredHome
from tests.service.conftest import World, make_world


def _placeholders(text: str) -> list[str]:
    return sorted(part.split("}")[0] for part in text.split("{")[1:])


def test_english_and_chinese_have_the_same_words() -> None:
    assert MESSAGES["en"].keys() == MESSAGES["zh"].keys()
    for key, text in MESSAGES["en"].items():
        # The same placeholders on both sides.
        assert _placeholders(text) == _placeholders(MESSAGES["zh"][key]), key


def test_every_feature_action_and_band_has_both_languages() -> None:
    features = {spec.name for spec in CATALOG}
    for lang in ("en", "zh"):
        assert FEATURE_SENTENCES[lang].keys() == features, lang
        assert ACTION_TEXTS[lang].keys() == ACTIONS.keys(), lang
        assert BAND_LABELS[lang].keys() == set(BAND_NAMES), lang
    for spec in CATALOG:
        assert _placeholders(FEATURE_SENTENCES["zh"][spec.name]) == ["value"], spec.name
        assert FEATURE_SENTENCES["en"][spec.name] == spec.sentence
    for table in (FEATURE_SENTENCES, ACTION_TEXTS, BAND_LABELS):
        chinese = table["zh"].values()
        # Every Chinese text is Chinese, and none is a copy of the English.
        assert all(re.search(r"[\u4e00-\u9fff]", text) for text in chinese)
        assert not set(chinese) & set(table["en"].values())
    # Values are filled in as the reason codes fill them.
    assert format_value(1234.0, "zh") == "1,234" and format_value(0.456, "en") == "0.5"
    assert format_value(None, "en") == "no" and format_value(float("nan"), "zh") == "无"
    assert reason_text("cn_friends", 3.0, "zh") == "3 位好友"
    assert reason_text("no_such_feature", 3.0, "zh", "fallback") == "fallback"


def test_every_outcome_and_record_type_has_both_languages() -> None:
    for lang in ("en", "zh"):
        for outcome in OUTCOMES:
            assert f"outcome.{outcome}" in MESSAGES[lang], (lang, outcome)
        for event_type in EventType:
            assert f"type.{event_type.value}" in MESSAGES[lang], (lang, event_type)
    words = [k for k in MESSAGES["zh"] if k.startswith(("outcome.", "type."))]
    assert all(re.search(r"[\u4e00-\u9fff]", MESSAGES["zh"][k]) for k in words)


def test_a_code_without_a_word_is_shown_as_itself() -> None:
    for lang in ("en", "zh"):
        t = MESSAGES[lang]
        assert word_for("status", "active", t) == t["status.active"]
        assert word_for("outcome", "allowed", t) == t["outcome.allowed"]
        assert word_for("type", "bill", t) == t["type.bill"]
        for kind in ("status", "outcome", "type"):
            assert word_for(kind, "no_such_code", t) == "no_such_code"  # type: ignore[arg-type]


def test_who_looked_says_each_outcome_in_the_page_language(web: World) -> None:
    w = web
    user = w.home.users[0]
    path = f"/v1/scores/{user}?purpose=hotel"
    assert w.client.get(path, headers=w.hotel).json()["error"] == "no_authorization"
    asked = w.client.post(
        "/v1/authorizations",
        headers=w.hotel,
        json={"user_id": user, "purpose": "hotel", "scope": "score", "days": 30},
    ).json()
    w.client.post(f"/v1/me/authorizations/{asked['authorization_id']}/grant", headers=w.me(user))
    assert w.client.get(path, headers=w.hotel).status_code == 200
    me = _person(w, user)
    for lang in ("zh", "en"):
        page = me.get(f"/app?lang={lang}").text
        cells = re.findall(r'<td class="outcome">([^<]*)</td>', page)
        t = MESSAGES[lang]
        # Newest first: the allowed read, then the refusal.
        assert cells == [t["outcome.allowed"], t["outcome.no_authorization"]], lang


def test_a_thin_file_is_told_what_it_needs_in_the_page_language(web: World) -> None:
    assert NEEDS_ZH.keys() == NEEDS.keys()
    for code, english in NEEDS.items():
        assert _placeholders(english) == _placeholders(NEEDS_ZH[code]), code
    w = web
    recent = max(w.home.joined.values())
    newcomer = next(u for u in w.home.everyone if w.home.joined[_ref(u)] == recent)
    thin = w.client.app.state.service.rescorer.thin_file(_ref(newcomer), w.clock.now())  # type: ignore[attr-defined]
    assert thin is not None and thin.missing
    me = _person(w, newcomer)
    chinese = _text(me.get("/app?lang=zh").text)
    english = _text(me.get("/app?lang=en").text)
    for code, params in thin.missing:
        assert NEEDS_ZH[code].format(**params) in chinese
        assert NEEDS[code].format(**params) in english
        assert NEEDS[code].format(**params) not in chinese


def test_a_person_is_refused_in_the_page_language(web: World) -> None:
    w = web
    user = w.home.users[0]
    asked = w.client.post(
        "/v1/authorizations",
        headers=w.hotel,
        json={"user_id": user, "purpose": "hotel", "scope": "score", "days": 30},
    ).json()
    me = _person(w, user)
    me.get("/app?lang=zh")  # the language is remembered in a cookie
    base = f"/app/authorizations/{asked['authorization_id']}"

    def message(page: str) -> str:
        found = re.search(r'id="message">(.*?)</p>', page, flags=re.S)
        assert found, page
        return found.group(1)

    assert message(me.post(f"{base}/revoke", data={"reason": "x"}).text) == REFUSALS["not_active"]
    me.post(f"{base}/grant")
    assert message(me.post(f"{base}/grant").text) == REFUSALS["not_pending"]
    missing = me.post("/app/disputes", data={"event_id": "no-such-record", "reason": "x"})
    assert message(missing.text) == REFUSALS["no_record"].format(event_id="no-such-record")


def test_an_operator_deciding_a_decided_dispute_is_told_in_the_page_language(web: World) -> None:
    w = web
    user, bill = _eligible(w)
    _person(w, user).post("/app/disputes", data={"event_id": bill["event_id"], "reason": "x"})
    ops = _operator(w)
    found = re.search(r'action="/ops/disputes/(\d+)"', ops.get("/ops").text)
    assert found, "the dispute is in the operator's queue"
    decide = f"/ops/disputes/{found.group(1)}"
    first = ops.post(decide, data={"decision": "reject", "note": "a"}, follow_redirects=False)
    assert first.status_code == 303

    def message(page: str) -> str:
        shown = re.search(r'id="message">(.*?)</p>', page, flags=re.S)
        assert shown, page
        return unescape(shown.group(1))

    again = ops.post(decide, data={"decision": "uphold", "note": "b"})
    assert again.status_code == 409
    assert message(again.text) == f"dispute {found.group(1)} is rejected already."
    ops.get("/ops?lang=zh")  # the language is remembered in a cookie
    again = ops.post(decide, data={"decision": "reject", "note": "c"})
    assert (again.status_code, message(again.text)) == (
        409,
        OPERATOR_REFUSALS["zh"]["not_pending"].format(dispute_id=found.group(1)),
    )
    assert 'href="/ops?lang=en"' in again.text  # the switch leads to the console, not the form
    missing = ops.post("/ops/disputes/987654", data={"decision": "reject", "note": "d"})
    assert (missing.status_code, message(missing.text)) == (
        404,
        OPERATOR_REFUSALS["zh"]["not_found"].format(dispute_id=987654),
    )


def test_an_operator_upholding_a_dispute_whose_record_was_cancelled_is_told_so(
    web: World,
) -> None:
    w = web
    user, bill = _eligible(w)
    _person(w, user).post("/app/disputes", data={"event_id": bill["event_id"], "reason": "x"})
    ops = _operator(w)
    found = re.search(r'action="/ops/disputes/(\d+)"', ops.get("/ops?lang=en").text)
    assert found
    # The record is cancelled by its furnisher before the operator gets to the dispute.
    lake = ParquetLake(w.settings.lake_dir)
    write_correction(lake, w.settings.rejects_dir, w.clock, bill, "void-1", {"void": True})
    upheld = ops.post(f"/ops/disputes/{found.group(1)}", data={"decision": "uphold", "note": "a"})
    assert upheld.status_code == 404
    shown = re.search(r'id="message">(.*?)</p>', upheld.text, flags=re.S)
    assert shown
    assert unescape(shown.group(1)) == OPERATOR_REFUSALS["en"]["no_record"].format(
        dispute_id=found.group(1), detail=f"record {bill['event_id']} was cancelled"
    )
    # Still pending: the operator can reject it.
    rejected = ops.post(
        f"/ops/disputes/{found.group(1)}",
        data={"decision": "reject", "note": "b"},
        follow_redirects=False,
    )
    assert rejected.status_code == 303


def test_charts_are_valid_labelled_svg() -> None:
    names = {k: k.title() for k in ("a", "b", "c", "d", "e")}
    for svg in (
        charts.dial(700, "very good", "Score 700"),
        charts.dial(350, "poor", "lowest"),
        charts.radar({"a": 0, "b": 100, "c": 50, "d": 20, "e": 70}, names, "radar <&>"),
        charts.history([("2025-01-01", 600), ("2025-02-01", 640)], "history"),
    ):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and root.get("role") == "img" and root.get("aria-label")
    assert charts.history([], "none") == ""
    # The dial's arc ends further round for a higher score.
    low = charts.dial(400, "poor", "x").split("A80 80 0 0 1 ")[2].split('"')[0]
    high = charts.dial(900, "excellent", "x").split("A80 80 0 0 1 ")[2].split('"')[0]
    assert float(high.split()[0]) > float(low.split()[0])


# -- the pages, through the test client --------------------------------------------------------


class _Controls(HTMLParser):
    """Every form control of a page, the ids labels point at, and the controls inside a label."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.in_label = 0
        self.in_button: dict[str, str | None] | None = None
        self.button_text = ""
        self.unnamed_buttons: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append({**a, "tag": tag, "wrapped": "1" if self.in_label else None})
        elif tag == "button":
            self.in_button, self.button_text = a, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1
        elif tag == "button" and self.in_button is not None:
            if not (self.button_text.strip() or self.in_button.get("aria-label")):
                self.unnamed_buttons.append(str(self.in_button))
            self.in_button = None

    def handle_data(self, data: str) -> None:
        if self.in_button is not None:
            self.button_text += data


def assert_labelled(html: str) -> None:
    """Every input, select and button has a name a screen reader can read out."""
    found = _Controls()
    found.feed(html)
    for control in found.controls:
        assert (
            control["wrapped"] or control.get("aria-label") or control.get("id") in found.label_for
        ), control
    assert not found.unnamed_buttons


def _text(html: str) -> str:
    """The page's visible text, tags and SVG aside."""
    body = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body)))


def _row(html: str, attribute: str, value: str) -> str:
    found = re.search(rf'<tr {attribute}="{re.escape(value)}">(.*?)</tr>', html, flags=re.S)
    assert found, f"no row {attribute}={value}"
    return found.group(1)


def _ref(user: str) -> str:
    return pseudonymize_value(KEY, "user_id", user)


@pytest.fixture
def web(scored_home: ScoredHome, tmp_path: Path) -> Iterator[World]:
    """The service with its pages over a copy of the scored home, on SQLite."""
    database = Database(f"sqlite:///{tmp_path / 'state.db'}")
    database.upgrade()
    world = make_world(scored_home, database, tmp_path / "home")
    add_pages(world.client.app)
    yield world
    database.dispose()


def _person(w: World, user: str) -> TestClient:
    return TestClient(w.client.app, cookies={"pentascore_me": w.token(user)})


def _operator(w: World) -> TestClient:
    return TestClient(w.client.app, cookies={"pentascore_ops": DEV_OPERATOR_TOKEN})


def _bills(w: World) -> list[dict[str, Any]]:
    return [
        e
        for e in ParquetLake(w.settings.lake_dir).read(current=True).to_pylist()
        if e["type"] == "bill" and e["ts"] <= NOW
    ]


def _eligible(w: World) -> tuple[str, dict[str, Any]]:
    """A scored person with an overdue bill repaid in full that the policy can repair."""
    scored = {_ref(u): u for u in w.home.users}
    bill = next(
        e
        for e in _bills(w)
        if e["user_id"] in scored
        and (e["days_past_due"] or 0) >= 1
        and not e["repaired"]
        and e["paid_ts"] is not None
        and e["paid_amount"] >= e["amount"]
        and e["amount"] <= w.settings.repair_max_amount
        and (e["paid_ts"] - e["due_ts"]).days <= w.settings.repair_max_days_to_repay
    )
    return scored[bill["user_id"]], bill


def test_repair_a_repaid_overdue_bill(web: World) -> None:
    w = web
    user, bill = _eligible(w)
    me = _person(w, user)
    page = me.get("/app")
    assert page.status_code == 200
    assert_labelled(page.text)
    row = _row(page.text, "data-bill", bill["event_id"])
    assert 'action="/app/repairs"' in row and f'value="{bill["event_id"]}"' in row
    assert "Repair" in row

    made = me.post("/app/repairs", data={"event_id": bill["event_id"]}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == "/app#repairs"
    page = me.get("/app")
    # Repaired: no longer offered, listed among the requests with its extra refresh.
    assert f'data-bill="{bill["event_id"]}"' not in page.text
    listed = re.findall(r'<tr data-repair="\d+">(.*?)</tr>', page.text, flags=re.S)
    assert len(listed) == 1 and bill["event_id"] in listed[0]
    assert "repaired" in _text(listed[0]) and "available" in _text(listed[0])

    # Asked again about the repaired record: the refusal's sentence is the page's message.
    current = next(e["event_id"] for e in _bills(w) if e.get("supersedes") == bill["event_id"])
    again = me.post("/app/repairs", data={"event_id": current})
    assert again.status_code == 200
    assert re.search(r'id="message">\s*this bill is repaired already\.', again.text)
    # A bill never overdue, in Chinese.
    never = next(e for e in _bills(w) if e["user_id"] == bill["user_id"] and not e["days_past_due"])
    refused = me.post("/app/repairs?lang=zh", data={"event_id": never["event_id"]})
    assert REFUSALS["never_overdue"] in refused.text
    statuses = re.findall(r'<tr data-repair="\d+">.*?class="status">(.*?)</td>', refused.text)
    assert statuses == ["未获准", "未获准", "已修复"]
    # This month's refresh, then the extra one the repair granted.
    first = me.post("/app/refresh?lang=en")
    assert re.search(r'id="message">\s*Your score was refreshed: \d+\.', first.text)
    assert [x for x in re.findall(r'class="extra">(.*?)</td>', first.text) if x] == ["available"]
    second = me.post("/app/refresh")
    assert [x for x in re.findall(r'class="extra">(.*?)</td>', second.text) if x] == ["used"]
    # A record that is not theirs is "not found", and nothing is asked of the service.
    other = me.post("/app/repairs?lang=en", data={"event_id": "../../etc"})
    assert "you have no current record" in other.text
    # Signed out, the form leads back to sign-in.
    anonymous = TestClient(w.client.app).post(
        "/app/repairs", data={"event_id": bill["event_id"]}, follow_redirects=False
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/app"


def test_repairable_bills_follow_the_policy(web: World) -> None:
    _, bill = _eligible(web)
    service = web.client.app.state.service  # type: ignore[attr-defined]
    events = explainer_of(service).events_of(bill["user_id"])
    ok = {b["event_id"]: b for b in repairable(events, RepairPolicy(), "en", NOW)}
    assert ok[bill["event_id"]]["refusal"] is None
    assert all(b["days_late"] >= 1 for b in ok.values())
    small = RepairPolicy(max_amount=100, max_days_to_repay=365)
    for lang, words in (("en", "bills over 1.00 cannot be repaired"), ("zh", "金额超过 1.00")):
        refused = {b["event_id"]: b for b in repairable(events, small, lang, NOW)}
        assert words in refused[bill["event_id"]]["refusal"]
    strict = RepairPolicy(max_days_to_repay=-1)
    late = repairable(events, strict, "zh", NOW)
    days = (bill["paid_ts"] - bill["due_ts"]).days
    assert any(f"到期 {days} 天后才还清" in (b["refusal"] or "") for b in late)
    # Nothing from after the page's date.
    assert not repairable(events, RepairPolicy(), "en", NOW - timedelta(days=3650))


def test_model_registry_compare_and_promote(web: World, challenger: Trained) -> None:
    w = web
    registry = ModelRegistry(w.settings.models_dir)
    champion = registry.champion()
    assert champion is not None
    doc = registry.register(challenger, NOW - timedelta(days=1), {"as_of": "2025-04-04"})
    promote = f"/ops/models/{doc.version}/promote"

    # Only the operator: anonymous and a person are sent to the operator's sign-in.
    anonymous = TestClient(w.client.app)
    assert "Operator token" in anonymous.get("/ops").text
    for client in (anonymous, _person(w, w.home.users[0])):
        refused = client.post(promote, follow_redirects=False)
        assert refused.status_code == 303 and refused.headers["location"] == "/ops"
        assert registry.champion() == champion
    wrong = TestClient(w.client.app, cookies={"pentascore_ops": "not-the-token"})
    assert wrong.post(promote, follow_redirects=False).headers["location"] == "/ops"
    assert registry.champion() == champion

    ops = _operator(w)
    page = ops.get("/ops")
    assert page.status_code == 200
    assert_labelled(page.text)
    mine = _row(page.text, "data-model", champion)
    theirs = _row(page.text, "data-model", doc.version)
    assert "champion" in mine and "Promote" not in mine
    assert "candidate" in theirs and f'action="{promote}"' in theirs
    auc = doc.metrics[doc.headline]["auc"]
    assert f"{auc:.4f}" in theirs and "gbdt" in theirs
    share = doc.learned_shares[Dimension.CREDIT_HISTORY]
    assert f"{100 * share:.1f}%" in theirs
    # Side by side: the champion and the newest other model by default, or as chosen.
    table = page.text.split('id="compare"')[1].split("</table>")[0]
    assert table.index(champion) < table.index(doc.version)
    assert f"{auc:.4f}" in table and re.search(r">[+-]\d", table)
    chosen = ops.get("/ops", params={"a": doc.version, "b": champion}).text
    table = chosen.split('id="compare"')[1].split("</table>")[0]
    assert table.index(doc.version) < table.index(champion)

    promoted = ops.post(promote, follow_redirects=False)
    assert promoted.status_code == 303 and promoted.headers["location"] == "/ops#models"
    assert registry.champion() == doc.version
    with w.database.session() as session:
        entry = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "model.promoted")
        ).one()
    assert entry.actor == "operator"
    assert entry.detail["version"] == doc.version and entry.detail["replaced"] == champion
    page = ops.get("/ops?lang=zh").text
    assert "主模型" in _row(page, "data-model", doc.version)
    assert "已退役" in _row(page, "data-model", champion)
    assert "设为主模型" in _row(page, "data-model", champion)
    unknown = ops.post("/ops/models/sc-000000000000/promote")
    assert unknown.status_code == 404 and "no model" in unknown.text
    assert registry.champion() == doc.version


def test_the_person_page_in_chinese(web: World) -> None:
    w = web
    user = w.home.users[0]
    me = _person(w, user)
    page = me.get("/app?lang=zh")
    assert page.status_code == 200 and 'lang="zh-Hans"' in page.text
    assert_labelled(page.text)
    text = _text(page.text)
    service = w.client.app.state.service  # type: ignore[attr-defined]
    explained = explainer_of(service).explain(_ref(user), NOW)
    assert explained.reasons
    for reason in explained.reasons:
        assert reason_text(reason.feature, reason.value, "zh") in text
        assert reason.text not in text
        # The English sentence is the explanation's own, filled in the same way.
        assert reason_text(reason.feature, reason.value, "en") == reason.text
    for step in explained.plan:
        assert ACTION_TEXTS["zh"][step.action] in text
    for name in ACTIONS:
        assert ACTION_TEXTS["zh"][name] in text and ACTION_TEXTS["en"][name] not in text
    # The dial shows the published score, with its band in Chinese.
    dial = re.search(r'aria-label="信用分 (\d+)，等级 ([^"]+)"', page.text)
    assert dial is not None
    band = BAND_LABELS["zh"][str(band_names(np.array([int(dial.group(1))]))[0])]
    assert dial.group(2) == band and f">{band}</text>" in page.text
    # The switch keeps the page and offers English.
    assert 'href="/app?lang=en"' in page.text
    assert "退出" in text
    # What if: the ticked actions, rescored; the prediction in Chinese.
    predicted = me.post("/app/whatif", data={"actions": ["verify_education", "pay_utilities_6m"]})
    found = re.search(r'id="prediction" role="status">(.*?)</p>', predicted.text)
    assert found and re.fullmatch(r"6 个月后预计 \d+ 分（范围 \d+-\d+）", found.group(1))


def test_sign_in_and_partner_pages_are_labelled(web: World) -> None:
    anonymous = TestClient(web.client.app)
    for path in ("/app", "/partner?lang=zh", "/ops?lang=en"):
        page = anonymous.get(path)
        assert page.status_code == 200 and 'type="password"' in page.text
        assert_labelled(page.text)
        assert "/logout" not in page.text  # no sign-out before signing in
    partner = TestClient(web.client.app, cookies={"pentascore_partner": web.hotel_key})
    page = partner.get("/partner")
    assert 'action="/partner/act"' in page.text and 'action="/partner/logout"' in page.text
    assert_labelled(page.text)
    out = partner.post("/partner/logout", follow_redirects=False)
    assert out.status_code == 303 and 'pentascore_partner=""' in out.headers["set-cookie"]


def test_the_operator_console_serves_the_monitoring_report(web: World) -> None:
    w = web
    anonymous = TestClient(w.client.app)
    refused = anonymous.get("/ops/monitoring", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/ops"
    ops = _operator(w)
    assert 'href="/ops/monitoring"' in ops.get("/ops").text
    page = ops.get("/ops/monitoring")
    assert page.status_code == 200
    assert "pentascore monitoring report" in page.text
    # The home's one run: its date and its people counted, drawn offline.
    assert w.home.as_of.date().isoformat() in page.text
    assert f"{w.home.scores.num_rows:,}" in page.text
    assert "<svg" in page.text and "https://" not in page.text
