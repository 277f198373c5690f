"""The shipped nginx config (ops/nginx/babelq.conf.template, filled in with ports only) run by
Debian's nginx in front of three real `babelq api` processes: requests spread over the two
replicas; one killed, requests keep succeeding; both killed, the backup answers; a body over
the cap gets 413 from nginx itself."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import fresh_stack
from tests.support.processes import REPO_ROOT, babelq_env, babelq_process, wait_until
from tests.support.services import free_port

pytestmark = pytest.mark.integration
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
TEMPLATE = REPO_ROOT / "ops" / "nginx" / "babelq.conf.template"


@contextmanager
def nginx(tmp_path: Path, listen: int, apis: list[int]) -> Iterator[str]:
    if NGINX is None:
        pytest.fail("nginx is not installed (make test installs it: apt-get install nginx)")
    values = {
        "BABELQ_NGINX_LISTEN": f"127.0.0.1:{listen}",
        "BABELQ_API_1": f"127.0.0.1:{apis[0]}",
        "BABELQ_API_2": f"127.0.0.1:{apis[1]}",
        "BABELQ_API_BACKUP": f"127.0.0.1:{apis[2]}",
    }
    # As the nginx image's envsubst does: ${NAME} of the given names only (nginx's own $host stays).
    site = re.sub(r"\$\{(BABELQ_[A-Z0-9_]+)\}", lambda m: values[m[1]], TEMPLATE.read_text())
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "babelq.conf").write_text(site)
    main = tmp_path / "nginx.conf"  # the frame a distribution's nginx.conf gives, in a temp prefix
    main.write_text(f"""pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log warn; daemon off;
events {{ worker_connections 256; }}
http {{ access_log off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;
        include {tmp_path}/babelq.conf; }}
""")
    process = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(main)], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{listen}"
    try:
        wait_until(
            lambda: _answers(url) or process.poll() is not None, 15, "nginx up", tmp_path / "error.log"
        )
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _upstreams(url: str, count: int) -> Counter[str]:
    """Which API answered each of `count` requests (every one must succeed, within 2 s)."""
    seen: Counter[str] = Counter()
    with httpx.Client(base_url=url, timeout=5) as client:
        for i in range(count):
            started = time.monotonic()
            response = client.post(
                "/v1/messages", json={"text": f"Where is my parcel {i}?", "language": "en"}
            )
            assert response.status_code == 202, response.text
            assert time.monotonic() - started < 2.0
            seen[response.headers["X-Babelq-Upstream"].split(", ")[-1]] += 1
    return seen


def test_nginx_spreads_fails_over_and_caps_bodies(redis_url: str, tmp_path: Path):
    ports = [free_port() for _ in range(3)]
    values = {"broker_url": redis_url, "database_url": f"sqlite:///{tmp_path}/b.db", "var_dir": str(tmp_path)}
    fresh_stack(values).close()
    with ExitStack() as stack:
        apis = [
            stack.enter_context(
                babelq_process(
                    ["api"],
                    babelq_env(**values, api_port=str(port)),
                    tmp_path / f"api{port}.log",
                    "Application startup complete",
                )
            )
            for port in ports
        ]
        url = stack.enter_context(nginx(tmp_path / "nginx", free_port(), ports))
        first, second, backup = (f"127.0.0.1:{port}" for port in ports)

        spread = _upstreams(url, 20)
        assert spread[first] >= 5 and spread[second] >= 5 and spread[backup] == 0

        apis[0].send_signal(signal.SIGKILL)
        apis[0].wait(10)
        assert set(_upstreams(url, 10)) == {second}  # no failed request: nginx goes on to the next

        apis[1].send_signal(signal.SIGKILL)
        apis[1].wait(10)
        assert set(_upstreams(url, 5)) == {backup}

        too_big = httpx.post(
            f"{url}/v1/messages", content=b"x" * 300_000, headers={"Content-Type": "application/json"}
        )
        assert too_big.status_code == 413 and "nginx" in too_big.text  # refused before any API saw it

        # Not for the public: the API serves them (development settings here), nginx does not.
        assert httpx.get(f"http://{backup}/openapi.json").status_code == 200
        for private in ("/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert httpx.get(f"{url}{private}").status_code == 404, private
        assert httpx.get(f"{url}/healthz").status_code == 200
