"""Shared fixtures: a clean environment for config tests and the location of the real data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def clean_env(monkeypatch):
    """No HELPERS_* variables (the root conftest sets some for nbval)."""
    for key in ("HELPERS_PROFILE", "HELPERS_RUN_DIR", "HELPERS_FIGURES_DIR", "HELPERS_DATASET", "HELPERS_DATA_PATH"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch
