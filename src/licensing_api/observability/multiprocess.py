"""Prometheus across uvicorn workers: one folder of per-process metric files, fresh per start.

prometheus_client picks its storage when first imported, from PROMETHEUS_MULTIPROC_DIR; so
`serve` calls `prepare_metrics_dir` before uvicorn spawns the workers, which inherit it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

ENV_NAME = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_METRICS_FILES = "licensing_requests_"  # observability/request_metrics.py's files


def prepare_metrics_dir(configured: Path | None, workers: int) -> Callable[[], None]:
    """Set up multiprocess metrics for `workers` > 1; returns the clean-up to run at exit."""
    if workers <= 1:
        return lambda: None
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        # Values of a previous run must not add up: prometheus_client's files and ours
        # (observability/request_metrics.py).
        for stale in (*configured.glob("*.db"), *configured.glob(f"{REQUEST_METRICS_FILES}*")):
            stale.unlink()
        directory, owned = configured, False
    else:
        directory, owned = Path(tempfile.mkdtemp(prefix="licensing-metrics-")), True
    # The one environment write of the service: a variable for the library, not a setting.
    os.environ[ENV_NAME] = str(directory)

    def clean_up() -> None:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)

    return clean_up
