"""`GET /v1/authorize`: the access decision alone, for an edge that serves the site itself
(nginx `auth_request`, Traefik `ForwardAuth`, Caddy `forward_auth`).

The edge sends the original request's headers, and where it went: `X-Original-Method` /
`X-Original-URI` (nginx, as the examples set them) or `X-Forwarded-Method` / `X-Forwarded-Uri`
(Traefik, Caddy), with `X-Forwarded-Host` / `-Proto`. The decision is made for that request
(the same policy as the gateway, then the same steps as `/v1/content`): `200` with the usage
headers, or the refusal with its status, headers and body.

What is billed (the edge cannot pass the origin's status back to an auth subrequest):
- `billing=report` (the nginx example): nothing is counted at the decision. The `200`
  carries `Licensing-Grant`; the edge logs it with the status it answered, to the UDP report
  address (`FORWARD_AUTH_REPORT_ADDRESS`, reports.py), and only a 2xx is counted: exactly the
  gateway's rule. Bound: a report lost on its way (UDP, the service down) is a request not
  billed, never one billed twice (grants are single-use).
- default (Traefik, Caddy: no second phase): a `200` is counted when it is given, so an
  origin 3xx/4xx/5xx to an allowed request is billed too; at most one count per allowed
  request, whatever the origin answers.

`render=refusal` renders a refusal as an ordinary response (nginx passes only 401/403 from a
subrequest: its `error_page` asks again for the body); it never counts anything, and a
decision that now allows answers `307` back to the original URI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from fastapi import FastAPI
from starlette.types import Scope

from licensing_api.access.dispatch import Answer, refused
from licensing_api.errors import BadRequest
from licensing_api.gateway.decision import UNMETERED_METHODS, decide
from licensing_api.gateway.grants import GrantSigner
from licensing_api.gateway.policy import GatewayPolicy
from licensing_api.settings import Settings

if TYPE_CHECKING:
    from licensing_api.access.runtime import HotPath

AUTHORIZE_PATH = "/v1/authorize"
GRANT_HEADER = b"licensing-grant"
EDGE_HEADERS = frozenset({b"x-original-method", b"x-original-uri", b"x-forwarded-method", b"x-forwarded-uri"})
EMPTY = (b"content-length", b"0")


class InvalidForwardAuthRequest(BadRequest):
    slug, title = "invalid-forward-auth-request", "Invalid forward-auth request"


def original_scope(scope: Scope) -> Scope:
    """The request the edge is asking about, as an ASGI scope."""
    found: dict[bytes, bytes] = {}
    headers = []
    for name, value in scope["headers"]:
        if name in EDGE_HEADERS or name == b"x-forwarded-host":
            found.setdefault(name, value)
        if name not in EDGE_HEADERS and name != b"host":
            headers.append((name, value))
    uri = found.get(b"x-original-uri") or found.get(b"x-forwarded-uri")
    if not uri or not uri.startswith(b"/"):
        raise InvalidForwardAuthRequest(
            "send the original request's URI: X-Original-URI (nginx: $request_uri) or X-Forwarded-Uri"
        )
    method = (found.get(b"x-original-method") or found.get(b"x-forwarded-method") or b"GET").decode("latin-1")
    host = found.get(b"x-forwarded-host") or next((v for n, v in scope["headers"] if n == b"host"), None)
    if host is not None:
        headers.append((b"host", host))
    raw_path, _, query = uri.partition(b"?")
    forwarded_proto = next((v for n, v in scope["headers"] if n == b"x-forwarded-proto"), None)
    return {
        **scope,
        "method": method.upper(),
        "scheme": forwarded_proto.decode("latin-1") if forwarded_proto else scope.get("scheme", "http"),
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
    }


class ForwardAuth:
    def __init__(self, policy: GatewayPolicy, grants: GrantSigner, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.grants = grants
        self.clock = clock

    async def answer(self, scope: Scope, hot_path: HotPath) -> Answer:
        try:
            options = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            if set(options) - {"billing", "render"} or options.get("billing", "report") != "report" \
                    or options.get("render", "refusal") != "refusal":
                raise InvalidForwardAuthRequest("the only options are billing=report and render=refusal")
            original = original_scope(scope)
        except InvalidForwardAuthRequest as problem:
            return refused(problem, scope)
        if not self.policy.licenses(original["headers"], original["path"]):
            return 200, [EMPTY], b""  # passes free, untouched
        grant, refusal = await decide(original, hot_path)
        if refusal is not None:
            return refusal
        if "render" in options:  # asked for a refusal that is no longer one: try again
            query = original["query_string"]
            return 307, [(b"location", original["raw_path"] + (b"?" + query if query else b"")), EMPTY], b""
        assert grant is not None
        metering = hot_path.guard.metering
        if original["method"] in UNMETERED_METHODS:
            return 200, [metering.link_header, EMPTY], b""
        if "billing" not in options:
            return 200, [*hot_path.guard.meter(grant, original["path"]), EMPTY], b""
        headers = metering.quote(*grant)
        token = self.grants.issue(grant, self.clock(), original["path"])
        if token is not None:
            headers.append((GRANT_HEADER, token.encode()))
        return 200, [*headers, EMPTY], b""


def install_forward_auth(app: FastAPI, settings: Settings) -> ForwardAuth:
    """Build forward-auth for the app (after `install_standards`: it needs the crawler list)."""
    policy = GatewayPolicy.from_settings(settings, app.state.crawler_standards.crawlers)
    app.state.forward_auth = ForwardAuth(policy, GrantSigner.from_settings(settings))
    return app.state.forward_auth  # type: ignore[no-any-return]
