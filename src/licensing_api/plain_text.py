"""Text inputs without control characters: one type for every string a client sends us.

A NUL byte in a name used to reach PostgreSQL (which refuses it in text) and came back as
a 500; a line break or an escape sequence in a label would end up in logs, pages and the
audit log. Every text input (JSON fields, form fields, query parameters) is `PlainText` and
refuses Unicode control characters (C0, DEL, C1) with 422 problem+json; the OpenAPI schema
says so with a `pattern`, so clients and fuzzers know before sending.
"""

from __future__ import annotations

import re
from typing import Annotated, Any


from pydantic import BeforeValidator, Field, StringConstraints

from licensing_api.errors import BadRequest

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The same set as an ECMA-262 pattern for the JSON schema.
PLAIN_TEXT_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
REFUSED = "control characters (NUL, line breaks, tabs, escapes) are not allowed"


def without_control_characters(value: Any) -> Any:
    """`value` unchanged, or ValueError if it is a string holding a control character.

    Runs before the string's own validation, so length limits keep their own messages."""
    found = CONTROL_CHARACTERS.search(value) if isinstance(value, str) else None
    if found is not None:
        raise ValueError(f"{REFUSED}; found U+{ord(found.group()):04X} at position {found.start()}")
    return value


def require_plain_text(value: str, what: str) -> str:
    """`value`, or a 400 naming `what` if it holds a control character (for callers that do
    not go through a schema, such as the CLI)."""
    try:
        return without_control_characters(value)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise BadRequest(f"{what}: {exc}") from None


def plain_text(max_length: int, min_length: int = 0) -> Any:
    """The type of a text input of at most `max_length` characters, e.g.
    `name: plain_text(100) | None = None` or `Annotated[plain_text(320), Query()]`."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length or None, max_length=max_length),
        BeforeValidator(without_control_characters),
        Field(json_schema_extra={"pattern": PLAIN_TEXT_PATTERN}),
    ]
