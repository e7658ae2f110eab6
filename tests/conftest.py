"""Shared fixtures: a clean environment for config tests and the location of the real data."""

from __future__ import annotations

import os
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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(session, config, items):
    """Keep the ci series on one worker, and start the Colab-stack check early.

    ``make test`` runs two pytest-xdist workers (``-n 2 --dist loadgroup``). The papermill run of the series
    (tests/test_notebooks.py) and nbval's second pass over notebooks/ share one run folder, so they form one
    group; the two Colab stacks share one module fixture, so they form another. Without workers, the
    stack check (downloads, installs, chapter 01 in two fresh environments) starts in the background as
    soon as the suite is known to hold it, so it overlaps the other tests; with workers, the worker that
    takes the group starts it, and the check uses the core that worker leaves idle while it waits. Both
    groups come first, the series (several minutes) before everything else.
    """
    stack_tests = "tests/test_packaging.py::test_installing_on_a_tensorflow_stack"
    series = [item for item in items if item.nodeid.startswith(("tests/test_notebooks.py::", "notebooks/"))]
    stacks = [item for item in items if item.nodeid.startswith(stack_tests)]
    for group, members in (("ci_series", series), ("colab_stacks", stacks)):
        for item in members:
            item.add_marker(pytest.mark.xdist_group(group))
    # the longest group first, so a worker starts it at once instead of finishing on it alone
    items[:] = series + stacks + [item for item in items if item not in series and item not in stacks]
    if os.environ.get("PYTEST_XDIST_WORKER") is None and any(item.nodeid.startswith(stack_tests) for item in items):
        import test_packaging

        test_packaging.start_stacks()
