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


def pytest_collection_modifyitems(session, config, items):
    """Start the Colab-stack check (downloads, installs, chapter 01 in two fresh environments) in the
    background as soon as the suite is known to hold it, so it overlaps the other tests."""
    if any(item.nodeid.startswith("tests/test_packaging.py::test_installing_on_a_tensorflow_stack") for item in items):
        import test_packaging

        test_packaging.start_stacks()
