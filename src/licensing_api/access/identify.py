"""identify: who is asking, from the request's headers alone (no lookup, no I/O).

Today a caller is an API key or nobody: the key comes as `Authorization: Bearer …`,
`Authorization: License …` (the same key presented as an RSL license token: standards/olp.py
issues the API key as the token) or `X-API-Key`. Every credential is parsed here, in
`raw_credentials`, and nowhere else.
"""

from __future__ import annotations

from starlette.requests import Request

CREDENTIAL_SCHEMES = (b"bearer", b"license")


def raw_credentials(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The key in raw ASGI headers (lowercase names): b"" if malformed, None if absent."""
    authorization = api_key = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"x-api-key":
            api_key = value
    if authorization is not None:
        scheme, _, credentials = authorization.partition(b" ")
        if scheme.lower() in CREDENTIAL_SCHEMES:
            return credentials.strip()
    if api_key is not None:
        return api_key.strip()
    return None if authorization is None else b""


def credentials_of(request: Request) -> str | None:
    """`raw_credentials` of a request, decoded: "" if malformed, None if absent."""
    secret = raw_credentials(request.scope["headers"])
    return None if secret is None else secret.decode("latin-1")
