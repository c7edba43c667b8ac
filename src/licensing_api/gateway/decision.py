"""The access decision for a request to the site (the gateway, forward-auth): the same steps
as `/v1/content` (access/guard.py: identify → license → price → enforce), then either a
`Grant` for the caller to meter when the origin answers 2xx, or the refusal as the content
routes render it (access/dispatch.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import Scope

from licensing_api.access.dispatch import REFUSALS, Answer, refused
from licensing_api.access.guard import Grant

if TYPE_CHECKING:
    from licensing_api.access.runtime import HotPath

# A 2xx to these carries no content: decided like any other request, never metered.
UNMETERED_METHODS = frozenset({"HEAD", "OPTIONS"})


async def decide(scope: Scope, hot_path: HotPath) -> tuple[Grant | None, Answer | None]:
    """(the grant, None) for a request that may be served; (None, the refusal) otherwise."""
    guard = hot_path.guard
    try:
        grant = guard.admit(scope["headers"], scope["path"]) or await guard.authorize(Request(scope))
    except REFUSALS as refusal:
        return None, refused(refusal, scope)
    return grant, None
