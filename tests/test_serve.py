"""`licensing-api serve` as a newcomer runs it: links, the start-up banner."""

from __future__ import annotations

import httpx

from tests.observability.serving import free_port, serving


def test_serve_port_option_moves_every_link_to_that_port(tmp_path):
    port = free_port()
    # PORT says 8000; the option wins, and PUBLIC_BASE_URL (unset) follows what is bound.
    env = {"PORT": "8000", "PATH": "/usr/bin:/bin"}  # the virtualenv's bin is not on PATH
    with serving(env, tmp_path, "--port", str(port), port=port) as server:
        server.wait_ready()
        offer = httpx.get(server.url + "/v1/content").json()
        license_xml = httpx.get(server.url + "/license.xml").text
        server.terminate()
    base = f"http://127.0.0.1:{port}"
    assert offer["license_url"] == f"{base}/license.xml"
    assert f"{base}/license" in license_xml
    assert ":8000" not in license_xml + str(offer)
    banner = next(line for line in server.log.splitlines() if line.startswith("licensing-api on"))
    assert banner.startswith(f"licensing-api on {base}, docs at {base}/docs")
    # So the banner names the command by its path, not as a bare `licensing-api`.
    assert "create a customer and key: /" in banner and "/licensing-api customers create" in banner
