"""The web chat page in a real browser: Playwright drives Debian's Chromium against the
embedded stack (`babelq run`, tiny model, keys required). A Spanish and an Arabic message are
answered, the Arabic one is laid out right to left, and a reload shows the conversation again
(the same visitor session, renewed). Another browser, another visitor, does not see it. A
screenshot is kept in test-artifacts/ for a person to look at."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT, babelq_env, babelq_process
from tests.support.services import free_port

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def page_url(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("web")
    port = free_port()
    # Keys required, as in production: the page works with the visitor session it asks for,
    # never with a channel key.
    env = babelq_env(
        model=str(tiny_model_dir),
        max_new_tokens="8",
        var_dir=str(home / "var"),
        api_port=str(port),
        require_api_keys="true",
    )
    with babelq_process(["run"], env, home / "run.log", ready_marker="ready.", timeout=120):
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def browser_page() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed (make test installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 390, "height": 800})  # a phone's width
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def _say(page, text: str, answers: int) -> None:
    page.get_by_label("Your message").fill(text)
    page.keyboard.press("Enter")  # the keyboard alone sends
    page.locator(".message.assistant:not(.waiting)").nth(answers - 1).wait_for()


def test_chat_in_spanish_and_arabic_then_reload(page_url: str, browser_page):
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(page_url)
    _say(page, "Hola, ¿dónde está mi pedido? Lo pedí hace una semana.", 1)
    _say(page, "مرحبا، أين طلبي؟ لقد طلبته منذ أسبوع ولم يصل بعد.", 2)

    users, answers = page.locator(".message.user"), page.locator(".message.assistant")
    assert users.nth(0).locator(".meta").inner_text().startswith("es · chat.es")
    assert users.nth(1).locator(".meta").inner_text().startswith("ar · ")
    assert all(answers.nth(i).locator(".text").inner_text().strip() for i in range(2))
    arabic = users.nth(1).locator(".text")
    assert arabic.evaluate("element => getComputedStyle(element).direction") == "rtl"
    spanish = users.nth(0).locator(".text")
    assert spanish.evaluate("element => getComputedStyle(element).direction") == "ltr"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-chat.png"), full_page=True)

    page.reload()
    page.locator(".message").nth(3).wait_for()
    texts = page.locator(".message .text").all_inner_texts()
    assert texts[0].startswith("Hola") and texts[2].startswith("مرحبا") and len(texts) == 4
    assert page.locator(".message.user").nth(0).locator(".meta").inner_text().startswith("es · chat.es")
    assert requested and all(url.startswith(page_url) for url in requested)  # all served by babelq
    conversation = page.evaluate("localStorage.getItem('babelq.conversation')")
    token = page.evaluate("localStorage.getItem('babelq.session')")
    assert conversation and token.startswith("bqv_")
    _a_stranger_cannot_read_it(page_url, conversation)


def _a_stranger_cannot_read_it(page_url: str, conversation: str) -> None:
    import httpx

    stranger = httpx.post(f"{page_url}v1/sessions").json()["token"]
    seen = httpx.get(
        f"{page_url}v1/conversations/{conversation}", headers={"Authorization": f"Bearer {stranger}"}
    )
    assert seen.status_code == 404
    assert httpx.get(f"{page_url}v1/conversations/{conversation}").status_code == 401  # no session at all


def test_the_page_loads_nothing_from_elsewhere(page_url: str):
    import httpx

    response = httpx.get(page_url)
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "http" not in response.text.replace('content="width', "")  # no absolute URL of another host
