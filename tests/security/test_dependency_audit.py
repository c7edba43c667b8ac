"""The CI dependency audit fails on known vulnerabilities only, never on an advisory outage."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_dependencies.py"
spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)


def test_a_known_vulnerability_fails_the_audit():
    report = {"dependencies": [
        {"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}]},
        {"name": "httpx", "version": "0.28.1", "vulns": []},
    ]}
    code, lines = audit.judge(report)
    assert code == 1
    assert "VULNERABLE jinja2 2.10: PYSEC-2019-217 (fixed in: 2.10.1)" in lines


def test_clean_packages_pass():
    code, lines = audit.judge({"dependencies": [{"name": "httpx", "version": "0.28.1", "vulns": []}]})
    assert code == 0
    assert lines == ["dependency audit: 1 packages audited, no known vulnerabilities"]


def test_an_advisory_service_that_answers_for_nothing_warns_without_failing():
    report = {"dependencies": [{"name": "httpx", "skip_reason": "Dependency not found on PyPI"}]}
    code, lines = audit.judge(report)
    assert code == 0
    assert lines[0].startswith("warning: dependency audit incomplete")
