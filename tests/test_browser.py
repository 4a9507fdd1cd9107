"""The API docs in a real browser: headless Chromium (Debian's) driven by Playwright.

Each variant is served by its production commands on 127.0.0.1; Chromium loads /docs and
/redoc with every request and console message recorded, then does what a person does in
Swagger UI: Authorize with the password form, Try it out, Execute. Screenshots of each page
go to artefacts/browser/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, sync_playwright

from .conftest import IN_CI, TEMPLATE, Project, serve

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# No network of its own: no QUIC, no component updates, no sync, no first-run pages.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTEFACTS = TEMPLATE / "artefacts" / "browser"
PASSWORD = "correct horse battery staple"
TIMEOUT_MS = 30_000


@dataclass
class Recorded:
    """Everything the browser asked for and complained about."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def left_the_host(self, base_url: str) -> list[str]:
        own = (base_url + "/", f"blob:{base_url}/", "data:")
        return [url for url in self.requests if not url.startswith(own)]


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).is_file():
        reason = f"Chromium is not installed at {CHROMIUM} (.ci/run installs Debian's chromium)"
        if IN_CI:
            pytest.fail(f"CI=true requires it: {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def base_url(baked: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("browser") / "app.db"
    with serve(baked, f"sqlite:///{database}") as service:
        yield service.url


@pytest.fixture(scope="module")
def user(base_url: str) -> str:
    email = f"swagger-{uuid.uuid4().hex[:8]}@example.com"
    registered = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    return email


@pytest.fixture
def browser_page(chromium: str, tmp_path: Path) -> Iterator[tuple[Page, Recorded]]:
    recorded = Recorded()
    with sync_playwright() as playwright:
        # A fresh profile per test: nothing cached, nothing remembered.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1600},
        )
        context.on("request", lambda request: recorded.requests.append(request.url))
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on(
            "console",
            lambda message: (
                recorded.console_errors.append(f"{message.text} ({message.location})")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: recorded.console_errors.append(str(error)))
        try:
            yield page, recorded
        finally:
            context.close()


def screenshot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / name), full_page=True)


def operation(page: Page, method: str, path: str) -> Locator:
    """The Swagger UI block of one operation, expanded."""
    block = page.locator(f".opblock-{method}:has(.opblock-summary-path[data-path='{path}'])")
    block.locator(".opblock-summary").first.click()
    block.locator(".try-out__btn").click()
    return block


def executed_status(block: Locator) -> str:
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    return status.inner_text().strip()


def test_swagger_ui_authorizes_and_executes_offline(
    browser_page: tuple[Page, Recorded], base_url: str, user: str, framework: str
) -> None:
    page, recorded = browser_page
    page.goto(f"{base_url}/docs", wait_until="networkidle")
    page.locator(".swagger-ui .info .title").wait_for()

    # Authorize: the OAuth2 password form, as a registered user.
    page.locator("button.authorize").first.click()
    page.fill("#oauth_username", user)
    page.fill("#oauth_password", PASSWORD)
    page.locator(".auth-btn-wrapper button.authorize").click()
    # Logged in once the form offers "Logout": the token request has answered.
    page.locator(".auth-container button", has_text="Logout").wait_for()
    assert page.locator(".auth-container .errors").count() == 0
    page.locator(".auth-btn-wrapper button.btn-done").first.click()

    me = operation(page, "get", "/api/v1/users/me")
    assert executed_status(me) == "200"
    assert (
        user in me.locator(".live-responses-table .response .response-col_description").inner_text()
    )

    create = operation(page, "post", "/api/v1/tasks")
    create.locator("textarea.body-param__text").fill('{"title": "From Swagger UI"}')
    assert executed_status(create) == "201"
    screenshot(page, f"{framework}-docs.png")

    assert recorded.left_the_host(base_url) == []
    assert recorded.console_errors == []


def test_redoc_renders_offline(
    browser_page: tuple[Page, Recorded], base_url: str, framework: str
) -> None:
    page, recorded = browser_page
    page.goto(f"{base_url}/redoc", wait_until="networkidle")
    page.locator(".api-content h1").first.wait_for()
    page.get_by_text("/api/v1/tasks").first.wait_for(state="attached")
    page.wait_for_load_state("networkidle")
    screenshot(page, f"{framework}-redoc.png")

    assert recorded.left_the_host(base_url) == []
    assert recorded.console_errors == []
