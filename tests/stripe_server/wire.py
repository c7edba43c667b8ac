"""Stripe's wire format: nested form params, errors, list objects, expansion.

Form bodies and query strings use bracket nesting exactly as the SDK encodes them
(``items[0][price]=…``, ``metadata[k]=v``, ``expand[]=…`` or ``expand[0]=…``).
Numeric-looking bracket keys of one parent become a list, in index order.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class StripeError(Exception):
    """An error answered to the client in Stripe's JSON error shape."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        err.update(self.extra)
        return {"error": err}


def not_found(kind: str, obj_id: str, param: str = "id") -> StripeError:
    return StripeError(
        f"No such {kind}: '{obj_id}'", status=404, code="resource_missing", param=param
    )


def parse_form(raw: str) -> dict[str, Any]:
    """Decode ``a[b][0][c]=v`` pairs into nested dicts/lists (values stay strings)."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        m = _KEY.match(key)
        if not m:
            root[key] = value
            continue
        parts = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # a[]=v appends
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v) for k, v in node.items()}
    if out and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


def expand_list(params: dict[str, Any]) -> list[str]:
    exp = params.get("expand") or []
    if isinstance(exp, str):
        return [exp]
    if isinstance(exp, dict):
        return list(exp.values())
    return list(exp)


def as_int(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise StripeError(f"Invalid integer: {value}", param=name)
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise StripeError(f"Invalid integer: {value}", param=name) from None


def as_bool(params: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise StripeError(f"Invalid boolean: {value}", param=name)


def require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise StripeError(f"Missing required param: {name}.", code="parameter_missing", param=name)
    return value


def check_allowed(params: dict[str, Any], allowed: Iterable[str]) -> None:
    allowed = set(allowed) | {"expand"}
    for key in params:
        if key not in allowed:
            raise StripeError(
                f"Received unknown parameter: {key}", code="parameter_unknown", param=key
            )


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe semantics: '' unsets the whole metadata or a single key."""
    if update is None:
        return current
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise StripeError("Invalid object", param="metadata")
    merged = dict(current)
    for k, v in update.items():
        if v == "":
            merged.pop(k, None)
        else:
            merged[k] = str(v)
    return merged


def list_object(
    items: list[dict[str, Any]], params: dict[str, Any], url: str
) -> dict[str, Any]:
    """Cursor pagination over items already in Stripe order (newest first)."""
    limit = as_int(params, "limit", 10)
    if limit is None or limit < 1 or limit > 100:
        raise StripeError(
            "Invalid limit: must be between 1 and 100.", param="limit"
        )
    after, before = params.get("starting_after"), params.get("ending_before")
    ids = [o["id"] for o in items]
    if after:
        if after not in ids:
            raise not_found("object", after, "starting_after")
        start = ids.index(after) + 1
        page = items[start : start + limit]
        has_more = start + limit < len(items)
    elif before:
        if before not in ids:
            raise not_found("object", before, "ending_before")
        end = ids.index(before)
        page = items[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        page = items[:limit]
        has_more = len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def expand(obj: Any, paths: list[str], lookup: Callable[[str], Any]) -> Any:
    """Replace id strings at dotted ``paths`` with the objects ``lookup`` returns."""
    for path in paths:
        _expand_path(obj, path.split("."), lookup)
    return obj


def _expand_path(node: Any, parts: list[str], lookup: Callable[[str], Any]) -> None:
    if not parts or node is None:
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        for item in node:
            _expand_path(item, parts, lookup)
        return
    if not isinstance(node, dict) or head not in node:
        return
    value = node[head]
    if not rest:
        if isinstance(value, str):
            found = lookup(value)
            if found is not None:
                node[head] = found
        return
    if isinstance(value, str):
        found = lookup(value)
        if found is None:
            return
        node[head] = value = found
    _expand_path(value, rest, lookup)
