"""Request parameters checked against the stripe SDK's own spec-generated parameter types.

stripe-python is generated from Stripe's OpenAPI spec: each service method names its
parameter ``TypedDict`` (``params: "PriceCreateParams"``) and the request it makes
(``self._request("post", "/v1/prices", …)``). :func:`route_table` reads both from the SDK's
sources (no import of the services), so every route this server implements is checked with
the types Stripe itself generated, at every nesting level:

- unknown keys → ``parameter_unknown`` ("Received unknown parameter: items[0][bogus]");
- required keys missing → ``parameter_missing``;
- ``Literal`` enums (the SDK writes open enums as ``Literal[…]|str``; Stripe refuses any
  other value) → "Invalid tax_behavior: must be one of exclusive, inclusive, or unspecified";
- empty strings where ``Literal['']`` does not allow unsetting → ``parameter_invalid_empty``;
- integers, booleans, decimals, arrays and hashes of the wrong shape
  (``parameter_invalid_integer`` …);
- string lengths → ``parameter_invalid_string``: Stripe's limits where the spec has them
  (``identifier`` and ``event_name`` 100, metadata keys 40 and values 500, lengths stated in
  the SDK's field docs such as "up to 200 characters"), else Stripe's usual 5000.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
import types
import typing
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, Union

import stripe
import typing_extensions
from stripe._request_options import RequestOptions

from .wire import StripeError

DEFAULT_MAX_LENGTH = 5000
# maxLength from Stripe's OpenAPI spec where the SDK's docs do not state it.
MAX_LENGTHS = {"identifier": 100, "event_name": 100}
METADATA_KEY_MAX, METADATA_VALUE_MAX = 40, 500
_LENGTH_PHRASES = re.compile(
    r"(?:up to|at most|max(?:imum)? length(?: is|:|,)?) (\d+) characters|max length: (\d+)", re.I)
_OPTIONS = set(RequestOptions.__annotations__)
SDK_ROOT = Path(stripe.__file__).parent


@functools.cache
def route_table() -> list[tuple[str, re.Pattern[str], str, str]]:
    """(method, path pattern, params module, params class) for every SDK service method."""
    routes = {}
    for source in sorted(SDK_ROOT.rglob("*_service.py")):
        tree = ast.parse(source.read_text())
        imports = {alias.asname or alias.name: node.module
                   for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
                   for alias in node.names}
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            name = _params_class(fn)
            request = _request_of(fn)
            if name and request and name in imports:
                method, path = request
                pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
                routes[method, path] = (method, pattern, imports[name], name)
    # Literal paths before templated ones (`/v1/customers/search` before `/v1/customers/{id}`).
    return sorted(routes.values(), key=lambda r: (r[1].pattern.count("[^/]+"), r[1].pattern))


def _params_class(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    for arg in fn.args.args + fn.args.kwonlyargs:
        if arg.arg == "params" and arg.annotation is not None:
            text = ast.unparse(arg.annotation)
            found = re.search(r"(\w+Params)\b", text)
            return found.group(1) if found else None
    return None


def _request_of(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, str] | None:
    for call in ast.walk(fn):
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr.startswith("_request") and len(call.args) >= 2
                and isinstance(call.args[0], ast.Constant)):
            target = call.args[1]
            if isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute):
                target = target.func.value
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                return str(call.args[0].value).upper(), target.value
    return None


@functools.cache
def params_type(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def spec_for(method: str, path: str) -> Any | None:
    for route_method, pattern, module, name in route_table():
        if route_method == method and pattern.match(path):
            return params_type(module, name)
    return None


def validate(method: str, path: str, params: dict[str, Any], *, form: bool) -> None:
    """Raise Stripe's error for the first parameter its SDK types refuse."""
    spec = spec_for(method, path)
    if spec is not None:
        _check_object(params, spec, "", form)


@functools.cache
def _fields(spec: Any) -> tuple[dict[str, Any], frozenset[str], dict[str, int]]:
    # Request options (api_key, idempotency_key…) are the SDK's, never sent as parameters.
    hints = typing.get_type_hints(spec, localns={**vars(typing), "StripeContext": object})
    options = _OPTIONS if RequestOptions in getattr(spec, "__orig_bases__", ()) else set()
    fields = {k: v for k, v in hints.items() if k not in options}
    required = frozenset(k for k in getattr(spec, "__required_keys__", ()) if k in fields)
    return fields, required, _documented_lengths(spec)


@functools.cache
def _documented_lengths(spec: Any) -> dict[str, int]:
    """Lengths stated in the SDK's field docs ("This may be up to 200 characters")."""
    module = importlib.import_module(spec.__module__)
    tree = ast.parse(Path(module.__file__ or "").read_text())
    lengths: dict[str, int] = {}
    for cls in tree.body:
        if not (isinstance(cls, ast.ClassDef) and cls.name == spec.__name__):
            continue
        for field, doc in zip(cls.body, cls.body[1:]):
            if (isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                    and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)):
                found = _LENGTH_PHRASES.search(str(doc.value.value))
                if found:
                    lengths[field.target.id] = int(found.group(1) or found.group(2))
    return lengths


def _name(path: str, key: str) -> str:
    return f"{path}[{key}]" if path else key


def _check_object(value: Any, spec: Any, path: str, form: bool) -> None:
    if not isinstance(value, dict):
        raise StripeError("Invalid hash" if path else "Invalid request body", param=path or None)
    fields, required, lengths = _fields(spec)
    for key in value:
        if key not in fields:
            raise StripeError(f"Received unknown parameter: {_name(path, key)}",
                              code="parameter_unknown", param=_name(path, key))
    for key in sorted(required):
        if key not in value:
            raise StripeError(f"Missing required param: {_name(path, key)}.",
                              code="parameter_missing", param=_name(path, key))
    for key, item in value.items():
        limit = lengths.get(key) or MAX_LENGTHS.get(key) or DEFAULT_MAX_LENGTH
        _check(item, fields[key], _name(path, key), form, limit, key == "metadata")


@functools.lru_cache(maxsize=None)
def _shape(annotation: Any) -> tuple[frozenset[Any], tuple[str, ...], tuple[Any, ...]]:
    """(literal values allowed, the enum's non-empty values, the other kinds) of an annotation."""
    options = _union(annotation)
    allowed = frozenset(v for o in options if typing.get_origin(o) is Literal for v in typing.get_args(o))
    kinds = tuple(o for o in options if typing.get_origin(o) is not Literal)
    return allowed, tuple(sorted(str(v) for v in allowed if v != "")), kinds


@functools.lru_cache(maxsize=None)
def _category(kind: Any) -> tuple[str, Any]:
    origin = typing.get_origin(kind) or kind
    if kind is Any or kind is object:
        return "any", None
    if typing_extensions.is_typeddict(kind):
        return "object", None
    if origin is list:
        return "list", (typing.get_args(kind) or (Any,))[0]
    if origin is dict or (isinstance(origin, type) and issubclass(origin, stripe.StripeObject)):
        args = typing.get_args(kind)
        return "dict", args[-1] if args else Any
    if kind in (float, Decimal):
        return "decimal", None
    return {bool: "bool", int: "int", str: "str"}.get(kind, "other"), None


def _check(value: Any, annotation: Any, path: str, form: bool, limit: int, metadata: bool = False) -> None:
    allowed, enum, kinds = _shape(annotation)
    if value == "" or value is None:
        if "" in allowed or value is None and type(None) in kinds:
            return
        raise StripeError(
            f"You passed an empty string for '{path}'. We assume empty values are an attempt to "
            f"unset a parameter; however '{path}' cannot be unset. You should remove '{path}' "
            "from your request or supply a non-empty value.", code="parameter_invalid_empty", param=path)
    if isinstance(value, str) and value in allowed:
        return
    if enum and isinstance(value, str):
        if not any(_accepts(k, value, form) for k in kinds if k is not str):
            shown = enum[0] if len(enum) == 1 else (
                f"{enum[0]} or {enum[1]}" if len(enum) == 2 else ", ".join(enum[:-1]) + f", or {enum[-1]}")
            raise StripeError(f"Invalid {path}: must be one of {shown}", param=path)
        return
    errors = []
    for kind in kinds:
        try:
            _check_kind(value, kind, path, form, limit, metadata)
            return
        except StripeError as err:
            errors.append(err)
    if errors:
        raise errors[0]


def _union(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [o for a in typing.get_args(annotation) for o in _union(a)]
    return [annotation]


def _accepts(kind: Any, value: Any, form: bool) -> bool:
    try:
        _check_kind(value, kind, "", form, DEFAULT_MAX_LENGTH)
        return True
    except StripeError:
        return False


def _check_kind(value: Any, kind: Any, path: str, form: bool, limit: int, metadata: bool = False) -> None:
    category, inner = _category(kind)
    if category == "any":
        return
    if category == "object":
        _check_object(value, kind, path, form)
    elif category == "list":
        if not isinstance(value, list):
            raise StripeError("Invalid array", param=path)
        for index, item in enumerate(value):
            _check(item, inner, f"{path}[{index}]", form, limit)
    elif category == "dict":
        if not isinstance(value, dict):
            raise StripeError("Invalid object", param=path)
        for key, item in value.items():
            if metadata and len(key) > METADATA_KEY_MAX:
                raise StripeError(f"Invalid key: {key} must be a string under 40 characters", param=path)
            if metadata and item == "":
                continue  # unsets that key
            _check(item, inner, f"{path}[{key}]", form, METADATA_VALUE_MAX if metadata else DEFAULT_MAX_LENGTH)
    elif category == "bool":
        if not (isinstance(value, bool) or form and value in ("true", "false")):
            raise StripeError(f"Invalid boolean: {value}", param=path)
    elif category == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or isinstance(value, str) and re.fullmatch(r"-?\d+", value)):
            raise StripeError(f"Invalid integer: {value}", code="parameter_invalid_integer", param=path)
    elif category == "decimal":
        try:
            if isinstance(value, bool) or not Decimal(str(value)).is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise StripeError(f"Invalid decimal: {value}", param=path) from None
    elif category == "str":
        if not isinstance(value, str):
            raise StripeError(f"Invalid string: {value}", code="parameter_invalid_string", param=path)
        if len(value) > limit:
            raise StripeError(f"Invalid string: {value[:20]}...; must be at most {limit} characters",
                              code="parameter_invalid_string", param=path)
