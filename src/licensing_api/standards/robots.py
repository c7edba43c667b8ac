"""`/robots.txt`: the operator's crawler rules plus the RSL `License:` directive."""

from __future__ import annotations

from pathlib import Path

from licensing_api.settings import Settings

BUNDLED_ROBOTS_RULES = Path(__file__).resolve().parent / "data" / "robots_rules.txt"


def build_robots_txt(settings: Settings) -> str:
    rules_file = settings.robots_rules_file or BUNDLED_ROBOTS_RULES
    rules = rules_file.read_text(encoding="utf-8").strip()
    # RSL 1.0 discovery: a `License:` line with the absolute URL of the license document.
    kept = [line for line in rules.splitlines() if not line.lower().startswith("license:")]
    license_line = f"License: {settings.public_base_url}/license.xml"
    return license_line + "\n\n" + "\n".join(kept) + "\n"
