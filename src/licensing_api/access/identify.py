"""identify: who is asking, from the request's headers alone (no lookup, no I/O).

A caller is one of:
- an API key: `Authorization: Bearer lk_…` or `X-API-Key: lk_…`;
- an RSL license token: `Authorization: License lt_…` (`olp/tokens.py`; the API key itself is
  still accepted under `License`, as the first license server issued it);
- a registered bot: no key or token, a Web Bot Auth signature (`Signature-Input`), which the
  license step checks (`bots/identify.py`);
- nobody: the 402 offer, or a free path.

The same pass over the headers notes whether the crawler declared a price limit
(`crawler-exact-price` / `crawler-max-price`): the price step reads them only then. Every
credential is parsed here, in `scan`, and nowhere else.
"""

from __future__ import annotations

from starlette.requests import Request

CREDENTIAL_SCHEMES = (b"bearer", b"license")


def scan(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bool]:
    """(the key or token: b"" if malformed, None if absent; whether a price header is sent),
    from raw ASGI headers (lowercase names)."""
    authorization = api_key = None
    limited = False
    for name, value in headers:
        if name == b"authorization":
            authorization = value
        elif name == b"x-api-key":
            api_key = value
        elif name == b"crawler-max-price" or name == b"crawler-exact-price":
            limited = True  # compared, not looked up: hashing each header name costs more
    if authorization is not None:
        scheme, _, credentials = authorization.partition(b" ")
        if scheme.lower() in CREDENTIAL_SCHEMES:
            return credentials.strip(), limited
    if api_key is not None:
        return api_key.strip(), limited
    return (None if authorization is None else b""), limited


def raw_credentials(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The key or token in raw ASGI headers: b"" if malformed, None if absent."""
    return scan(headers)[0]


def credentials_of(request: Request) -> str | None:
    """`raw_credentials` of a request, decoded: "" if malformed, None if absent."""
    secret = raw_credentials(request.scope["headers"])
    return None if secret is None else secret.decode("latin-1")


def is_signed(headers: list[tuple[bytes, bytes]]) -> bool:
    """A Web Bot Auth signature is sent (whether it holds is the license step's question)."""
    return any(name == b"signature-input" for name, _ in headers)
