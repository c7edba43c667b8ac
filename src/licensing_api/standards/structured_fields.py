"""The part of RFC 8941 (Structured Field Values) that HTTP Message Signatures need.

Parses a Dictionary whose members are Items or Inner Lists with Parameters, keeping each
member's raw text: RFC 9421 signs `@signature-params` as serialized by the signer.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

BareValue = str | int | bool | bytes
KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]*")
INTEGER = re.compile(r"-?[0-9]{1,15}")


class StructuredFieldError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Item:
    value: BareValue
    params: dict[str, BareValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Member:
    value: Item | list[Item]  # an Item or an Inner List
    params: dict[str, BareValue]
    raw: str  # the member's value exactly as sent (after `key=`)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise StructuredFieldError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def key(self) -> str:
        match = KEY.match(self.text, self.pos)
        if not match:
            raise StructuredFieldError(f"expected a key at {self.pos}")
        self.pos = match.end()
        return match.group()

    def bare_item(self) -> BareValue:
        char = self.peek()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            self.pos += 1
            flag = self.peek()
            if flag not in ("0", "1"):
                raise StructuredFieldError("bad boolean")
            self.pos += 1
            return flag == "1"
        match = INTEGER.match(self.text, self.pos)
        if match and not (match.end() < len(self.text) and self.text[match.end()] == "."):
            self.pos = match.end()
            return int(match.group())
        match = TOKEN.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return match.group()
        raise StructuredFieldError(f"unsupported value at {self.pos}")

    def string(self) -> str:
        self.expect('"')
        out = []
        while True:
            char = self.peek()
            if not char:
                raise StructuredFieldError("unterminated string")
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\"):
                    raise StructuredFieldError("bad escape in string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not (" " <= char <= "~"):
                raise StructuredFieldError("non-ASCII character in string")
            else:
                out.append(char)

    def byte_sequence(self) -> bytes:
        self.expect(":")
        end = self.text.find(":", self.pos)
        if end < 0:
            raise StructuredFieldError("unterminated byte sequence")
        chunk = self.text[self.pos:end]
        self.pos = end + 1
        try:
            return base64.b64decode(chunk, validate=True)
        except binascii.Error:
            raise StructuredFieldError("bad base64 in byte sequence") from None

    def parameters(self) -> dict[str, BareValue]:
        params: dict[str, BareValue] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip_spaces()
            name = self.key()
            value: BareValue = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[name] = value
        return params

    def item(self) -> Item:
        value = self.bare_item()
        return Item(value, self.parameters())

    def inner_list(self) -> list[Item]:
        self.expect("(")
        items: list[Item] = []
        while True:
            self.skip_spaces()
            if self.peek() == ")":
                self.pos += 1
                return items
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise StructuredFieldError(f"bad inner list at {self.pos}")


def parse_dictionary(text: str) -> dict[str, Member]:
    parser = _Parser(text.strip())
    members: dict[str, Member] = {}
    while parser.peek():
        name = parser.key()
        start = parser.pos + 1 if parser.peek() == "=" else parser.pos
        if parser.peek() == "=":
            parser.pos += 1
            if parser.peek() == "(":
                value: Item | list[Item] = parser.inner_list()
                params = parser.parameters()
            else:
                item = parser.item()
                value, params = Item(item.value), item.params
        else:
            value, params = Item(True), parser.parameters()
        members[name] = Member(value, params, parser.text[start:parser.pos])
        parser.skip_spaces()
        if not parser.peek():
            break
        parser.expect(",")
        parser.skip_spaces()
        if not parser.peek():
            raise StructuredFieldError("trailing comma")
    return members
