"""bench/load.py in miniature (2 workers, 6 s), in CI: real workers under concurrent load, a key revoked and
webhooks arriving, then SIGTERM; every 200 the client saw is metered exactly once."""

from __future__ import annotations

import argparse

from bench.load import main as run_load


async def test_every_200_is_metered_exactly_once_under_load_with_revocations_and_webhooks(capsys):
    status = await run_load(argparse.Namespace(workers=2, duration=6.0, connections=2))
    report = capsys.readouterr().out
    assert status == 0, report
    assert report.rstrip().endswith("PASS"), report
