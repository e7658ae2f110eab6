"""Packaging: the lock agrees with pyproject, and (marked ``colab_stack``) installing the wheel into a
Colab-like environment changes nothing that is already there.

The Colab-like check builds, for the oldest TensorFlow minor version pyproject declares and for the
newest on the index, a fresh environment holding only that TensorFlow (with what it pulls: Keras,
NumPy, protobuf, ...); asks pip for a ``--dry-run --report`` of installing the wheel; fails if any
installed package (tensorflow, tensorflow-*, keras, numpy, protobuf included) would change; then
installs exactly that plan and runs chapter 01 on the ``ci`` profile there. Environments and the
install are made with uv (its cache, shared between them and across runs, makes the TensorFlow
install a link); the dry run uses the environment's own pip, as Colab does. Skipped when the index
cannot be reached.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
PROJECT = "gan-cxr-helpers"


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _requirements(extras: tuple[str, ...] = ("dev",)) -> list[Requirement]:
    """Runtime requirements plus those of ``extras``, self-references (``pkg[a,b]``) expanded."""
    project = _pyproject()
    out = [Requirement(r) for r in project["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == PROJECT:
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


def _lock_pins() -> dict[str, list[tuple[Version, Marker | None]]]:
    pins: dict[str, list[tuple[Version, Marker | None]]] = {}
    for line in LOCK.read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"requirements.lock: {line!r} is not an exact pin"
        pins.setdefault(canonicalize_name(req.name), []).append((Version(spec.version), req.marker))
    return pins


def test_the_lock_pins_every_requirement_within_pyprojects_bounds():
    pins = _lock_pins()
    header = LOCK.read_text().splitlines()[:2]
    assert "uv pip compile" in header[1] and "pyproject.toml --extra dev" in header[1], header
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is in pyproject.toml but not in requirements.lock: run `make lock`"
        for version, marker in pins[name]:
            assert req.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {name}=={version}{f' ; {marker}' if marker else ''}, outside pyproject's "
                f"{req}: run `make lock`")
    # on this Python, exactly one pin of each package applies
    for name, entries in pins.items():
        applicable = [v for v, m in entries if m is None or m.evaluate()]
        assert len(applicable) <= 1, f"{name}: {applicable}"
    assert "keras-hub" not in {canonicalize_name(Requirement(r).name) for r in _pyproject()["dependencies"]}


def test_runtime_requirements_have_no_upper_bounds_and_no_dev_tools():
    runtime = [Requirement(r) for r in _pyproject()["dependencies"]]
    for req in runtime:
        assert all(s.operator == ">=" for s in req.specifier), f"{req}: lower bounds only on the runtime set"
    names = {canonicalize_name(r.name) for r in runtime}
    assert not names & {"jupyterlab", "nbval", "pytest", "pytest-timeout", "ruff", "nbstripout", "keras-hub"}


# --- a Colab-like stack ------------------------------------------------------------------------------

CACHE = Path(os.environ.get("HELPERS_STACK_CACHE", Path.home() / ".cache" / "gan-cxr-colab-stack"))
GUARDED = re.compile(r"^(tensorflow(-.*)?|tf-.*|keras|numpy|protobuf)$")


def _tf_minors() -> list[str]:
    """The oldest TensorFlow minor pyproject allows and the newest on the index: their newest patch each."""
    (tf,) = [Requirement(r) for r in _pyproject()["dependencies"] if Requirement(r).name == "tensorflow"]
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "tensorflow"],
                             capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("the package index did not answer `pip index versions tensorflow` within 120 s")
    found = re.search(r"Available versions: (.*)", out.stdout)
    if out.returncode != 0 or not found:
        pytest.skip(f"the package index cannot be reached (pip index versions tensorflow): {out.stderr.strip()[-300:]}")
    versions = sorted(v for v in map(Version, found[1].split(", ")) if not v.is_prerelease and v in tf.specifier)
    by_minor: dict[tuple[int, int], Version] = {}
    for v in versions:
        by_minor[(v.major, v.minor)] = v
    return [str(by_minor[min(by_minor)]), str(by_minor[max(by_minor)])]


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return out


def _installed(python: Path) -> dict[str, str]:
    listed = json.loads(_run([python, "-m", "pip", "list", "--format=json"]).stdout)
    return {canonicalize_name(d["name"]): d["version"] for d in listed}


def _check_stack(which: str, tf_version: str, wheel: Path, tmp_path: Path, uv: str) -> str:
    """Build one Colab-like stack, dry-run and install the wheel on it, run chapter 01; return a summary line."""
    start = time.perf_counter()
    env = {**os.environ, "UV_CACHE_DIR": str(CACHE / "uv"), "PIP_CACHE_DIR": str(CACHE / "pip")}
    tmp_path.mkdir(parents=True, exist_ok=True)
    venv = tmp_path / "venv"
    _run([uv, "venv", "-q", "--seed", "--python", sys.executable, venv], env=env)
    python = venv / "bin" / "python"
    _run([uv, "pip", "install", "-q", "--python", python, f"tensorflow=={tf_version}"], env=env, timeout=1200)
    before = _installed(python)
    t_env = time.perf_counter() - start
    stack = f"tensorflow {before['tensorflow']}, keras {before.get('keras')}, numpy {before['numpy']}, protobuf {before['protobuf']}"
    report = tmp_path / "report.json"
    _run([python, "-m", "pip", "install", "-q", "--dry-run", "--report", report, wheel], env=env, timeout=900)
    t_dry = time.perf_counter() - start - t_env
    planned = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"]
               for i in json.loads(report.read_text())["install"]}
    changed = {n: f"{before[n]} -> {v}" for n, v in planned.items() if n in before and before[n] != v}
    guarded_new = sorted(n for n in planned if n not in before and GUARDED.match(n))
    assert not changed and not guarded_new, f"on {stack}, pip would change {changed} and add {guarded_new}"
    # install what pip planned, exactly (uv: no second resolution), and check the result is consistent
    pins = [f"{n}=={v}" for n, v in planned.items() if n != PROJECT]
    _run([uv, "pip", "install", "-q", "--python", python, "--no-deps", wheel, *pins], env=env, timeout=1200)
    _run([python, "-m", "pip", "check"], env=env)
    assert _installed(python) == {**before, **planned}
    installed_s = time.perf_counter() - start

    # chapter 01 on the ci profile from the installed package, in an empty folder (as on Colab)
    jupyter, content = tmp_path / "jupyter", tmp_path / "content"
    content.mkdir()
    run_env = {k: v for k, v in env.items()
               if not k.startswith(("HELPERS_", "COVERAGE_", "PYTEST_")) and k not in ("PYTHONPATH", "JUPYTER_PATH")}
    run_env.update(JUPYTER_PATH=str(jupyter / "share" / "jupyter"), TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg")
    _run([python, "-m", "ipykernel", "install", "--prefix", jupyter, "--name", "python3"], env=run_env)
    _run([python, "-m", "helpers.series", "--profile", "ci", "--run-dir", content / "run", "--only", "01"],
         cwd=content, env=run_env, timeout=900)
    metrics = json.loads((content / "run" / "metrics" / "01.json").read_text())
    assert metrics, "chapter 01 recorded no metrics"
    return (f"{which} stack ({stack}): {len(planned)} packages added, none changed; environment {t_env:.0f} s, "
            f"dry run {t_dry:.0f} s, install {installed_s - t_env - t_dry:.0f} s, "
            f"chapter 01 {time.perf_counter() - start - installed_s:.0f} s")


_STACKS: Future | None = None


def _both_stacks() -> Any:
    """Build the wheel, then check the oldest and the newest stack at once (two processes on two cores).

    Returns ``{which: summary line or the exception}``, or the exception (a skip) that stopped it all.
    """
    from test_colab import _build_wheel

    try:
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if uv is None:
            pytest.skip("uv is not installed (the dev extra has it: make install)")
        versions = dict(zip(("oldest", "newest"), _tf_minors(), strict=True))
        root = Path(tempfile.mkdtemp(prefix="colab-stack-"))
        wheel = _build_wheel(root)
    except BaseException as exc:  # a skip (offline) or a failure: the tests report it
        return exc

    def check(which: str) -> Any:
        try:
            return _check_stack(which, versions[which], wheel, root / which, uv)
        except BaseException as exc:  # reported by the test of that stack
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(versions, pool.map(check, versions), strict=True))


def start_stacks() -> None:
    """Start checking the stacks in the background (minutes of downloads and installs), once per session.

    ``tests/conftest.py`` calls this right after collection when the suite holds the stack tests, so the
    work overlaps the other tests; the ``stacks`` fixture waits for it.
    """
    global _STACKS
    if _STACKS is None:
        _STACKS = ThreadPoolExecutor(max_workers=1).submit(_both_stacks)


@pytest.fixture(scope="module")
def stacks() -> dict[str, Any]:
    start_stacks()
    outcome = _STACKS.result()
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.mark.colab_stack
@pytest.mark.notebook
@pytest.mark.parametrize("which", ["oldest", "newest"])
def test_installing_on_a_tensorflow_stack_changes_nothing_installed(which, stacks):
    outcome = stacks[which]
    if isinstance(outcome, BaseException):
        raise outcome
    print(outcome)
