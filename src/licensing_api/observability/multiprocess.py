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


def prepare_metrics_dir(configured: Path | None, workers: int) -> Callable[[], None]:
    """Set up multiprocess metrics for `workers` > 1; returns the clean-up to run at exit."""
    if workers <= 1:
        return lambda: None
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        for stale in configured.glob("*.db"):  # values of a previous run must not add up
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
