"""What is served: the Content-Security-Policy with frame-ancestors on every page, file and
answer babelq serves (the page's files and a refusal too), and the API docs off in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.security_headers import DATA_CSP, PAGE_CSP
from tests.unit.test_api_access import api


@pytest.mark.parametrize(
    ("path", "policy"),
    [
        ("/", PAGE_CSP),
        ("/static/index.html", PAGE_CSP),  # the same page by its file name
        ("/static/chat.js", PAGE_CSP),
        ("/healthz", DATA_CSP),
        ("/v1/jobs/not-a-uuid", DATA_CSP),  # a refusal (401 here) carries it too
    ],
)
def test_every_response_carries_the_policy_and_no_framing(tmp_path: Path, path: str, policy: str):
    with api(tmp_path, require_api_keys=True) as (http, _keys):
        response = http.get(path)
    assert response.headers["content-security-policy"] == policy
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_docs_are_off_in_production_and_on_in_development(tmp_path: Path):
    """Production needs real services, so its settings are built here as an operator's would be;
    the API over them serves no docs (the shipped default for BABELQ_ENV=production)."""
    with api(tmp_path / "dev") as (http, _keys):
        assert http.get("/docs").status_code == 200 and http.get("/openapi.json").status_code == 200
        assert "cdn.jsdelivr.net" in http.get("/docs").headers["content-security-policy"]
    with api(tmp_path / "off", api_docs=False) as (http, _keys):
        assert [http.get(path).status_code for path in ("/docs", "/redoc", "/openapi.json")] == [404] * 3


def test_production_settings_serve_no_docs():
    from core.settings import load_settings

    production = load_settings(
        env="production", broker_url="redis://127.0.0.1:6379/0", database_url="postgresql+psycopg://x@h/db"
    )
    assert production.docs_served is False and load_settings().docs_served is True


def test_a_body_that_is_not_json_is_422_whatever_its_bytes(tmp_path: Path):
    with api(tmp_path) as (http, _keys):
        reply = http.post("/v1/messages", content=b"\xff\xfe", headers={"Content-Type": "text/plain"})
    assert reply.status_code == 422 and reply.headers["content-security-policy"] == DATA_CSP


def test_a_bugs_500_carries_the_headers_and_no_traceback(tmp_path: Path):
    from fastapi.testclient import TestClient

    from core.settings import load_settings
    from persistence.migrate import upgrade
    from producers.api import create_app
    from producers.stack import build_stack

    settings = load_settings(var_dir=str(tmp_path))
    upgrade(settings.store_url)
    stack = build_stack(settings)
    app = create_app(stack)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug, with internal details")

    with TestClient(app, raise_server_exceptions=False) as http:
        reply = http.get("/boom")
    stack.close()
    assert reply.status_code == 500 and reply.json() == {"detail": "internal error"}
    assert reply.headers["content-security-policy"] == DATA_CSP and "internal details" not in reply.text


def test_no_proxy_is_trusted_unless_configured():
    from core.settings import load_settings

    assert load_settings().proxy_options == {"proxy_headers": False, "forwarded_allow_ips": None}
    assert load_settings(forwarded_allow_ips="10.0.0.5").proxy_options["proxy_headers"] is True
