"""Dependency audit for CI: `pip-audit` over the installed environment.

Fails (exit 1) only on known vulnerabilities. When the advisory service cannot be reached,
or answers for none of the packages (a registry mirror without per-version metadata does
that), it prints a warning and exits 0: an outage must not block a release, but it must not
pass silently as "no known vulnerabilities" either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 180


def main() -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    command = [str(pip_audit), "--format", "json", "--skip-editable", "--progress-spinner", "off"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"warning: dependency audit not run ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 0
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"warning: dependency audit not run: advisory service unreachable ({last_line})",
              file=sys.stderr)
        return 0

    code, lines = judge(report)
    for line in lines:
        print(line, file=sys.stderr if code or line.startswith("warning") else sys.stdout)
    return code


def judge(report: dict[str, Any]) -> tuple[int, list[str]]:
    """Exit status and messages for a `pip-audit --format json` report."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    audited = [d for d in dependencies if "skip_reason" not in d]
    lines = []
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            lines.append(f"VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']} "
                         f"(fixed in: {fixes})")
    if vulnerable:
        return 1, [*lines, f"dependency audit: {len(vulnerable)} vulnerable package(s)"]
    if not audited:
        return 0, [f"warning: dependency audit incomplete: the advisory service answered for none "
                   f"of {len(dependencies)} packages (unreachable or a mirror without advisories)"]
    skipped = len(dependencies) - len(audited)
    return 0, [f"dependency audit: {len(audited)} packages audited, no known vulnerabilities"
               + (f" ({skipped} not found on the advisory service)" if skipped else "")]


if __name__ == "__main__":
    sys.exit(main())
