"""The web app in headless Chromium (Debian's package, driven by Playwright), on a phone-sized
screen (375 x 812): see my score and why; grant then revoke an authorization, and the partner's
read is refused after; file a dispute and see it resolved; repair a repaid overdue bill. Every
page must fit the screen's width (tables scroll inside it), keep its text contrast and show
where the keyboard focus is. Each flow saves a screenshot under test-artifacts/browser/."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from pentascore.core.clock import FixedClock
from pentascore.core.settings import DEV_OPERATOR_TOKEN
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.lake import ParquetLake
from pentascore.model.registry import ModelRegistry
from pentascore.model.train import Trained
from pentascore.service.db import open_database
from pentascore.service.identities import add_partner, consumer_token
from pentascore.service.published import publish
from pentascore.web.i18n import BAND_LABELS, MESSAGES
from tests.conftest import KEY, NOW, ScoredHome

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 375, "height": 812}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@dataclass(frozen=True)
class Site:
    url: str
    partner_key: str
    token: str
    user: str
    repair_token: str  # a person with an overdue bill repaid in full that can be repaired
    repair_bill: str
    root: Path  # the served home


def _repairable_bill(root: Path, users: list[str]) -> tuple[str, str]:
    """A scored person (not the first, whom the other flows use) and their overdue bill,
    repaid in full by the service's date, that the default repair policy allows."""
    scored = {pseudonymize_value(KEY, "user_id", u): u for u in users[1:]}
    bill = next(
        e
        for e in ParquetLake(root / "lake").read(current=True).to_pylist()
        if e["type"] == "bill"
        and e["user_id"] in scored
        and e["ts"] <= NOW
        and (e["days_past_due"] or 0) >= 1
        and not e["repaired"]
        and e["paid_ts"] is not None
        and e["paid_amount"] >= e["amount"]
        and e["amount"] <= 1_000_000
        and (e["paid_ts"] - e["due_ts"]).days <= 365
    )
    return scored[bill["user_id"]], bill["event_id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(scored_home: ScoredHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
        if os.environ.get("PENTASCORE_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("site") / "home"
    shutil.copytree(scored_home.root, root)
    database = open_database(f"sqlite:///{root / 'state.db'}")
    clock = FixedClock(NOW)
    publish(database, scored_home.scores, clock.now())
    partner = add_partner(database, "Hotel One", clock.now())
    user = scored_home.users[0]
    token = consumer_token(database, pseudonymize_value(KEY, "user_id", user), clock.now())
    repairer, bill = _repairable_bill(root, scored_home.users)
    repair_token = consumer_token(
        database, pseudonymize_value(KEY, "user_id", repairer), clock.now()
    )
    database.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "PENTASCORE_PSEUDONYM_KEY": KEY.decode(),
        "PENTASCORE_OPERATOR_TOKEN": DEV_OPERATOR_TOKEN,
        "PENTASCORE_DEV": "true",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pentascore", "--home", str(root), "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    server.stderr.readline()  # the banner: the app is built
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(transport=httpx.HTTPTransport(retries=50)) as client:
        assert client.get(f"{url}/v1/ping").status_code == 200
    try:
        yield Site(url, partner.api_key, token, user, repair_token, bill, root)
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


def _signed_in(browser: object, site: Site, lang: str = "en", token: str = "") -> object:
    page = browser.new_page(viewport=PHONE)  # type: ignore[attr-defined]
    page.goto(f"{site.url}/app?lang={lang}")
    label = "Your access token" if lang == "en" else "您的访问令牌"
    page.get_by_label(label).fill(token or site.token)
    page.get_by_role("button", name="Sign in" if lang == "en" else "登录").click()
    return page


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


# The lowest contrast between an element's own text and the background it is drawn on (the
# first opaque one up the tree), by WCAG 2's formula; SVG charts aside.
_CONTRAST = """() => {
  const rgb = c => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(",").map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = ({r, g, b}) => {
    const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const behind = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  let worst = [21, ""];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg") || !el.getClientRects().length) continue;
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(behind(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst[0]) worst = [ratio, el.tagName + ": " + el.textContent.trim().slice(0, 40)];
  }
  return worst;
}"""


def _fits_a_phone(page: object) -> None:
    """No sideways scrolling at 375 px, every text readable (contrast at least 4.5:1), and
    the keyboard focus visible on the first controls."""
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px screen"
    ratio, where = page.evaluate(_CONTRAST)  # type: ignore[attr-defined]
    assert ratio >= 4.5, f"contrast {ratio:.2f} at {where}"
    for _ in range(3):
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
        outline = page.evaluate(  # type: ignore[attr-defined]
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; })()"
        )
        assert outline[0] != "BODY" and outline[1] != "none" and outline[2] != "0px", outline


def test_see_my_score_and_why(browser: object, site: Site) -> None:
    page = _signed_in(browser, site)
    dial = page.locator("svg.dial")  # type: ignore[attr-defined]
    assert dial.count() == 1
    score = int(dial.locator("text").first.text_content())
    assert 350 <= score <= 950
    assert page.locator("svg.radar").count() == 1  # type: ignore[attr-defined]
    reasons = page.locator("#reasons tr")  # type: ignore[attr-defined]
    assert reasons.count() >= 1 and "points lost" in reasons.first.inner_text()
    _fits_a_phone(page)
    _shot(page, "score-and-why")
    # The same page in Chinese: the reasons, plan, actions and band too.
    page.goto(f"{site.url}/app?lang=zh")  # type: ignore[attr-defined]
    assert page.get_by_role("heading", name="我的信用分").count() == 1  # type: ignore[attr-defined]
    reasons = page.locator("#reasons").inner_text()  # type: ignore[attr-defined]
    assert "损失分数" in reasons and "points lost" not in reasons
    assert not re.search(r"[a-z]{4,}", reasons), reasons  # no English words left
    whatif = page.locator("#whatif").inner_text()  # type: ignore[attr-defined]
    assert "认证学历" in whatif and "verify" not in whatif
    band = page.locator("svg.dial text").nth(1).text_content()  # type: ignore[attr-defined]
    assert band in BAND_LABELS["zh"].values()
    _fits_a_phone(page)
    _shot(page, "score-and-why-zh")
    page.close()  # type: ignore[attr-defined]


def test_grant_then_revoke_and_the_partner_is_refused(browser: object, site: Site) -> None:
    api = httpx.Client(base_url=site.url, headers={"X-API-Key": site.partner_key})
    asked = api.post(
        "/v1/authorizations", json={"user_id": site.user, "purpose": "hotel", "days": 30}
    ).json()
    row = f'tr[data-authorization="{asked["authorization_id"]}"]'
    page = _signed_in(browser, site)
    page.locator(row).get_by_role("button", name="Grant").click()  # type: ignore[attr-defined]
    assert page.locator(f"{row} .status").inner_text() == "active"  # type: ignore[attr-defined]
    assert api.get(f"/v1/scores/{site.user}", params={"purpose": "hotel"}).status_code == 200
    page.locator(row).get_by_label("Reason").fill("stay cancelled")  # type: ignore[attr-defined]
    page.locator(row).get_by_role("button", name="Revoke").click()  # type: ignore[attr-defined]
    assert page.locator(f"{row} .status").inner_text() == "revoked"  # type: ignore[attr-defined]
    refused = api.get(f"/v1/scores/{site.user}", params={"purpose": "hotel"})
    assert refused.status_code == 403 and refused.json()["error"] == "authorization_revoked"
    page.reload()  # type: ignore[attr-defined]
    outcomes = page.locator("#inquiries td.outcome").all_inner_texts()  # type: ignore[attr-defined]
    # Newest first, in words: the refusal after the revocation, then the read before it.
    t = MESSAGES["en"]
    assert outcomes == [t["outcome.authorization_revoked"], t["outcome.allowed"]]
    _shot(page, "grant-revoke")
    page.close()  # type: ignore[attr-defined]
    api.close()


def test_file_a_dispute_and_see_it_resolved(browser: object, site: Site) -> None:
    page = _signed_in(browser, site)
    page.get_by_label("Reason", exact=True).last.fill("this bill is not mine")  # type: ignore[attr-defined]
    page.get_by_role("button", name="File").click()  # type: ignore[attr-defined]
    assert page.locator("#dispute-list .status").first.inner_text() == "pending"  # type: ignore[attr-defined]

    ops = browser.new_page(viewport=PHONE)  # type: ignore[attr-defined]
    ops.goto(f"{site.url}/ops")
    ops.get_by_label("Operator token").fill(DEV_OPERATOR_TOKEN)
    ops.get_by_role("button", name="Sign in").click()
    ops.locator("#queue tr[data-dispute]").first.get_by_label("Operator's note").fill("checked")
    ops.locator("#queue tr[data-dispute]").first.get_by_role("button", name="Uphold").click()
    assert ops.locator("#queue tr[data-dispute]").count() == 0
    assert ops.locator("#model-list tr[data-model]").count() >= 1
    _fits_a_phone(ops)
    _shot(ops, "operator-queue")

    page.reload()  # type: ignore[attr-defined]
    first = page.locator("#dispute-list tr").nth(1)  # type: ignore[attr-defined]
    assert "upheld" in first.inner_text() and "checked" in first.inner_text()
    _shot(page, "dispute-resolved")
    page.close()  # type: ignore[attr-defined]
    ops.close()


def test_repair_a_repaid_overdue_bill(browser: object, site: Site) -> None:
    page = _signed_in(browser, site, token=site.repair_token)
    row = f'#repairable tr[data-bill="{site.repair_bill}"]'
    assert page.locator(row).count() == 1  # type: ignore[attr-defined]
    assert page.locator("#repair-list tr[data-repair]").count() == 0  # type: ignore[attr-defined]
    page.locator(row).get_by_role("button", name="Repair").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/app#repairs")  # type: ignore[attr-defined]
    # Granted: the bill is no longer offered; the request is listed with its extra refresh.
    assert page.locator(row).count() == 0  # type: ignore[attr-defined]
    repaired = page.locator("#repair-list tr[data-repair]")  # type: ignore[attr-defined]
    assert repaired.count() == 1 and site.repair_bill in repaired.inner_text()
    assert repaired.locator(".status").inner_text() == "repaired"
    assert repaired.locator(".extra").inner_text() == "available"
    _fits_a_phone(page)
    _shot(page, "repair")
    page.get_by_role("button", name="Refresh my score").click()  # type: ignore[attr-defined]
    message = page.get_by_role("status").first.inner_text()  # type: ignore[attr-defined]
    assert message.startswith("Your score was refreshed")
    page.close()  # type: ignore[attr-defined]


def test_partner_and_sign_in_pages_fit_a_phone(browser: object, site: Site) -> None:
    page = browser.new_page(viewport=PHONE)  # type: ignore[attr-defined]
    for path in ("/partner?lang=zh", "/ops?lang=en", "/app?lang=en"):
        page.goto(f"{site.url}{path}")
        _fits_a_phone(page)
    page.goto(f"{site.url}/partner")
    page.get_by_label("Partner key").fill(site.partner_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Person's id").fill(site.user)
    page.get_by_role("button", name="Read score").click()
    assert page.locator("#result").count() == 1
    _fits_a_phone(page)
    _shot(page, "partner")
    page.close()


def test_compare_and_promote_a_model(browser: object, site: Site, challenger: Trained) -> None:
    # Last: the new champion serves every later explanation.
    registry = ModelRegistry(site.root / "models")
    champion = registry.champion()
    doc = registry.register(challenger, NOW, {"as_of": "2025-04-04"})
    ops = browser.new_page(viewport=PHONE)  # type: ignore[attr-defined]
    ops.goto(f"{site.url}/ops?lang=en")
    ops.get_by_label("Operator token").fill(DEV_OPERATOR_TOKEN)
    ops.get_by_role("button", name="Sign in").click()
    compared = ops.locator("#compare").inner_text()
    assert champion in compared and doc.version in compared and "AUC" in compared
    row = f'#model-list tr[data-model="{doc.version}"]'
    assert ops.locator(f"{row} .status").inner_text() == "candidate"
    ops.locator(row).get_by_role("button", name="Promote").click()
    ops.wait_for_url("**/ops#models")
    assert ops.locator(f"{row} .status").inner_text() == "champion"
    assert registry.champion() == doc.version
    _fits_a_phone(ops)
    _shot(ops, "models")
    ops.close()
