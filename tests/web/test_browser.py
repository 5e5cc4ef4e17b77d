"""The web app in headless Chromium (Debian's package, driven by Playwright): see my score and
why; grant then revoke an authorization, and the partner's read is refused after; file a
dispute and see it resolved. Each flow saves a screenshot under test-artifacts/browser/."""

from __future__ import annotations

import os
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
from pentascore.service.db import open_database
from pentascore.service.identities import add_partner, consumer_token
from pentascore.service.published import publish
from tests.conftest import KEY, NOW, ScoredHome

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@dataclass(frozen=True)
class Site:
    url: str
    partner_key: str
    token: str
    user: str


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
        yield Site(url, partner.api_key, token, user)
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


def _signed_in(browser: object, site: Site, lang: str = "en") -> object:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    page.goto(f"{site.url}/app?lang={lang}")
    page.get_by_label("Your access token" if lang == "en" else "您的访问令牌").fill(site.token)
    page.get_by_role("button", name="Sign in" if lang == "en" else "登录").click()
    return page


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_see_my_score_and_why(browser: object, site: Site) -> None:
    page = _signed_in(browser, site)
    dial = page.locator("svg.dial")  # type: ignore[attr-defined]
    assert dial.count() == 1
    score = int(dial.locator("text").first.text_content())
    assert 350 <= score <= 950
    assert page.locator("svg.radar").count() == 1  # type: ignore[attr-defined]
    reasons = page.locator("#reasons tr")  # type: ignore[attr-defined]
    assert reasons.count() >= 1 and "points lost" in reasons.first.inner_text()
    _shot(page, "score-and-why")
    # The same page in Chinese.
    page.goto(f"{site.url}/app?lang=zh")  # type: ignore[attr-defined]
    assert page.get_by_role("heading", name="我的信用分").count() == 1  # type: ignore[attr-defined]
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
    seen = page.locator("#inquiries").inner_text()  # type: ignore[attr-defined]
    assert "allowed" in seen and "authorization_revoked" in seen
    _shot(page, "grant-revoke")
    page.close()  # type: ignore[attr-defined]
    api.close()


def test_file_a_dispute_and_see_it_resolved(browser: object, site: Site) -> None:
    page = _signed_in(browser, site)
    page.get_by_label("Reason", exact=True).last.fill("this bill is not mine")  # type: ignore[attr-defined]
    page.get_by_role("button", name="File").click()  # type: ignore[attr-defined]
    assert page.locator("#dispute-list .status").first.inner_text() == "pending"  # type: ignore[attr-defined]

    ops = browser.new_page()  # type: ignore[attr-defined]
    ops.goto(f"{site.url}/ops")
    ops.get_by_label("Operator token").fill(DEV_OPERATOR_TOKEN)
    ops.get_by_role("button", name="Sign in").click()
    ops.locator("#queue tr[data-dispute]").first.get_by_label("Operator's note").fill("checked")
    ops.locator("#queue tr[data-dispute]").first.get_by_role("button", name="Uphold").click()
    assert ops.locator("#queue tr[data-dispute]").count() == 0
    _shot(ops, "operator-queue")

    page.reload()  # type: ignore[attr-defined]
    first = page.locator("#dispute-list tr").nth(1)  # type: ignore[attr-defined]
    assert "upheld" in first.inner_text() and "checked" in first.inner_text()
    _shot(page, "dispute-resolved")
    page.close()  # type: ignore[attr-defined]
    ops.close()
