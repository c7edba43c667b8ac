"""`serve --workers N` prepares prometheus_client's multiprocess folder before the workers start."""

from __future__ import annotations

import os

import pytest

from licensing_api.observability.multiprocess import ENV_NAME, prepare_metrics_dir


@pytest.fixture(autouse=True)
def unset_metrics_env(monkeypatch):
    """prepare_metrics_dir writes os.environ: start without the variable, restore it after."""
    monkeypatch.setenv(ENV_NAME, "recorded-so-teardown-restores-the-original")
    monkeypatch.delenv(ENV_NAME)


def test_one_worker_needs_no_folder():
    prepare_metrics_dir(None, workers=1)()
    assert ENV_NAME not in os.environ


def test_several_workers_get_a_fresh_temporary_folder_removed_at_exit():
    clean_up = prepare_metrics_dir(None, workers=2)
    folder = os.environ[ENV_NAME]
    assert os.path.isdir(folder) and not os.listdir(folder)
    clean_up()
    assert not os.path.exists(folder)


def test_a_configured_folder_is_emptied_of_a_previous_runs_values_and_kept(tmp_path):
    stale = tmp_path / "counter_1234.db"
    stale.write_bytes(b"old values")
    clean_up = prepare_metrics_dir(tmp_path, workers=2)
    assert os.environ[ENV_NAME] == str(tmp_path)
    assert not stale.exists()
    clean_up()
    assert tmp_path.is_dir()
