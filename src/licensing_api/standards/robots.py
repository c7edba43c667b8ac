"""`/robots.txt`: the operator's crawler rules, the RSL `License:` directive and a
`Content-Signal:` line (Cloudflare's Content Signals Policy, contentsignals.org).

The content signals say the same as the license's usage terms, in that policy's vocabulary:
`search`, `ai-input` and `ai-train`, each `yes` or `no`; a use neither permitted nor
prohibited by `PERMITTED_USAGE`/`PROHIBITED_USAGE` is left out (the policy: "neither grants
nor restricts"). The line goes in the `User-agent: *` group, where the policy places it.
"""

from __future__ import annotations

from pathlib import Path

from licensing_api.settings import Settings

BUNDLED_ROBOTS_RULES = Path(__file__).resolve().parent / "data" / "robots_rules.txt"

# Content signal → the RSL usage tokens (PERMITTED_USAGE/PROHIBITED_USAGE) that include it.
SIGNAL_USAGE_TOKENS = {
    "search": ("search", "all"),
    "ai-input": ("ai-input", "ai-all", "all"),
    "ai-train": ("ai-train", "ai-all", "all"),
}


def content_signals(permitted: str, prohibited: str) -> str | None:
    """`search=yes, ai-input=yes, ai-train=no` from the RSL usage tokens; None if none apply."""
    allowed, refused = set(permitted.split()), set(prohibited.split())
    signals = []
    for signal, tokens in SIGNAL_USAGE_TOKENS.items():
        # The most specific token decides: "all" permitted with "ai-train" prohibited is a no.
        for token in tokens:
            if token in refused:
                signals.append(f"{signal}=no")
                break
            if token in allowed:
                signals.append(f"{signal}=yes")
                break
    return ", ".join(signals) or None


def build_robots_txt(settings: Settings) -> str:
    rules_file = settings.robots_rules_file or BUNDLED_ROBOTS_RULES
    rules = rules_file.read_text(encoding="utf-8").strip()
    # RSL 1.0 discovery: a `License:` line with the absolute URL of the license document.
    kept = [
        line for line in rules.splitlines()
        if not line.lower().startswith(("license:", "content-signal:"))
    ]
    signals = content_signals(settings.permitted_usage, settings.prohibited_usage)
    if signals is not None:
        kept = _with_content_signal(kept, f"Content-Signal: {signals}")
    license_line = f"License: {settings.public_base_url}/license.xml"
    return license_line + "\n\n" + "\n".join(kept) + "\n"


def _with_content_signal(lines: list[str], signal_line: str) -> list[str]:
    """The signal line right after the first `User-agent: *`, or in a group of its own."""
    for index, line in enumerate(lines):
        name, _, value = line.partition(":")
        if name.strip().lower() == "user-agent" and value.split("#", 1)[0].strip() == "*":
            return lines[: index + 1] + [signal_line] + lines[index + 1:]
    return [*lines, "", "User-agent: *", signal_line, "Allow: /"]
