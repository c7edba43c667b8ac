"""Whose address is the client's: X-Forwarded-For counts only when the balancer sent it.

`deploy/docker-compose.yml` trusts nginx's address alone (FORWARDED_ALLOW_IPS); with "*" any
client could rotate X-Forwarded-For past the failed-key-lookup limiter, or forge a crawler's
address to get it locked out. Tested both ways on a real `serve`: a direct client's header is
ignored, the balancer's is honoured. Loopback has many addresses: the balancer is 127.0.0.2.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import yaml

from tests.observability.serving import serving

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BALANCER = "127.0.0.2"


def unknown_key(n: int) -> dict[str, str]:
    """A different well-formed unknown key each time (one unknown key is cached as such)."""
    return {"Authorization": f"Bearer lk_{n:043d}"}


def test_only_the_balancer_may_name_the_client_address(tmp_path):
    env = {"FORWARDED_ALLOW_IPS": BALANCER, "FAILED_KEY_LOOKUP_LIMIT": "3"}
    with serving(env, tmp_path) as server:
        server.wait_ready()
        url = server.url + "/v1/content"
        with httpx.Client() as direct:
            # A direct client rotating X-Forwarded-For is still one address: refused after 3.
            spoofed = [direct.get(url, headers={**unknown_key(n), "X-Forwarded-For": f"203.0.113.{n}"})
                       for n in range(1, 6)]
        balancer = httpx.Client(transport=httpx.HTTPTransport(local_address=BALANCER))
        with balancer:
            # Behind the balancer each forwarded client has its own allowance.
            first = [balancer.get(url, headers={**unknown_key(n), "X-Forwarded-For": "198.51.100.1"})
                     for n in range(10, 14)]
            second = balancer.get(url, headers={**unknown_key(20), "X-Forwarded-For": "198.51.100.2"})
        server.terminate()
    assert [r.status_code for r in spoofed] == [401, 401, 401, 429, 429]
    assert [r.status_code for r in first] == [401, 401, 401, 429]
    assert second.status_code == 401
    clients = re.findall(r'"client": "([^"]+)"', server.log)
    assert "203.0.113.1" not in " ".join(clients)  # the forged address never became the client
    assert any(c.startswith("198.51.100.1") for c in clients)


def test_compose_trusts_only_nginx_and_nginx_sends_only_what_it_saw():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    trusted = compose["x-api-environment"]["FORWARDED_ALLOW_IPS"]
    assert trusted != "*"
    assert trusted == compose["services"]["lb"]["networks"]["default"]["ipv4_address"]
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx
    assert "$proxy_add_x_forwarded_for" not in nginx  # a client-started list would be kept


def test_nginx_keeps_admin_and_metrics_off_the_public_balancer_and_bounds_headers():
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert re.search(r"location \^~ /admin \{ return 404; \}", nginx)
    assert re.search(r"location = /metrics \{ return 404; \}", nginx)
    assert re.search(r"large_client_header_buffers 4 8k;", nginx)
