"""The results table of a run: one row per (notebook, classifier, strategy, seed), with provenance.

:class:`ResultsTable` records a run's scores (with their fingerprint) before appending its row, so a row
implies its scores; :meth:`ResultsTable.is_done` skips a run whose row carries the same fingerprint and
stops on another; :func:`read_results` stops on a damaged row, naming the line and the fix. The
``fingerprint`` column is written last, so a row cut short by a crash is always detected.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.classifiers.recipes import DEEP_CLASSIFIERS
from helpers.core import artifacts, provenance
from helpers.oversampling.strategies import ALL_STRATEGIES

__all__ = ["RUN_KEY", "CLASSIFIERS", "CLASSICAL_CLASSIFIERS", "ResultsError", "ResultsTable", "read_results",
           "damaged_table", "file_slug"]

#: Columns identifying one run (the run folder is bound to one data set, see RunConfig.load_splits).
RUN_KEY: tuple[str, ...] = ("notebook", "classifier", "strategy", "seed")
#: Chapter 4's classifiers on ResNet-18 features (the ANN, on pixels, is ``"ann"``).
CLASSICAL_CLASSIFIERS: tuple[str, ...] = ("decision_tree", "random_forest", "svm")
#: Every classifier name a row may carry.
CLASSIFIERS: tuple[str, ...] = (*CLASSICAL_CLASSIFIERS, "ann", *DEEP_CLASSIFIERS)
_UNIT_METRICS = ("roc_auc", "pr_auc", "precision", "recall", "f1", "f1_normal", "val_roc_auc")


class ResultsError(ValueError):
    """The results table is damaged; the message names the file, the line and the fix."""


def _norm_notebook(value: Any) -> str:
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.0+)?", text):  # "04" read back from CSV as 4 / 4.0
        return f"{int(float(text)):02d}"
    return text


def _key(notebook: Any, classifier: Any, strategy: Any, seed: Any) -> tuple[str, str, str, int]:
    return (_norm_notebook(notebook), str(classifier), str(strategy), int(seed))


def damaged_table(path: Path, line: int | None, detail: str) -> ResultsError:
    """The error for a damaged results table: file, line, what is wrong, and the fix."""
    where = f"{path}, line {line}" if line is not None else str(path)
    return ResultsError(
        f"{where}: {detail}. The table is damaged (a run killed mid-write by an older version, or an "
        f"edit by hand). Delete the bad line(s) to re-run those runs, or start afresh with "
        f"fresh=True / --fresh."
    )


def read_results(path: str | os.PathLike, hint: str = "") -> pd.DataFrame:
    """Read and validate a results table (see the module docstring); a missing file is an ArtifactError."""
    path = Path(path)
    if not path.exists():
        raise artifacts.ArtifactError(f"{path} does not exist. {hint or 'Run notebooks 04 and 05 first.'}")
    try:
        table = pd.read_csv(path, dtype={"notebook": str, "fingerprint": str})
    except pd.errors.EmptyDataError:
        raise damaged_table(path, None, "the file is empty") from None
    except pd.errors.ParserError as exc:
        raise damaged_table(path, None, f"it cannot be parsed ({exc})") from None
    missing = [c for c in (*RUN_KEY, "fingerprint", "roc_auc") if c not in table.columns]
    if missing:
        raise damaged_table(path, 1, f"the header lacks the columns {missing}")
    for i, row in enumerate(table.itertuples(index=False)):
        line = i + 2
        rec = row._asdict()
        fp = rec.get("fingerprint")
        if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-f]{12}", fp):
            raise damaged_table(path, line, f"the row is incomplete (fingerprint {fp!r})")
        if rec["classifier"] not in CLASSIFIERS:
            raise damaged_table(path, line, f"unknown classifier {rec['classifier']!r}")
        if rec["strategy"] not in ALL_STRATEGIES:
            raise damaged_table(path, line, f"unknown strategy {rec['strategy']!r}")
        seed = rec["seed"]
        if not (isinstance(seed, (int, np.integer)) or (isinstance(seed, float) and float(seed).is_integer())):
            raise damaged_table(path, line, f"seed {seed!r} is not an integer")
        for col in _UNIT_METRICS:
            value = rec.get(col)
            if value is not None and not (isinstance(value, (int, float)) and (np.isnan(value) or -1e-9 <= value <= 1 + 1e-9)):
                raise damaged_table(path, line, f"{col} = {value!r} is not a number in [0, 1]")
    table["notebook"] = table["notebook"].map(_norm_notebook)
    table["seed"] = table["seed"].astype(int)
    keys = list(zip(table["notebook"], table["classifier"], table["strategy"], table["seed"], strict=True))
    seen: dict[tuple, int] = {}
    for i, key in enumerate(keys):
        if key in seen:
            raise damaged_table(path, i + 2, f"run {key} appears twice (also line {seen[key]})")
        seen[key] = i + 2
    return table


def file_slug(value: Any) -> str:
    """``value`` as a file-name part: runs of other characters than letters, digits, ``.`` and ``-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", str(value)).strip("-") or "x"


class ResultsTable:
    """The results table and score files of one run folder (``run_dir/results.csv``, ``run_dir/scores/``)."""

    def __init__(self, run_dir: str | os.PathLike, file_name: str = "results.csv") -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / file_name
        self.scores_dir = self.run_dir / "scores"

    # -------------------------------------------------------------------------------- reading
    def read(self) -> pd.DataFrame:
        """The validated table (empty DataFrame when nothing was recorded yet)."""
        if not self.path.exists():
            return pd.DataFrame(columns=[*RUN_KEY, "fingerprint"])
        return read_results(self.path)

    def scores_path(self, notebook: str, classifier: str, strategy: str, seed: int) -> Path:
        """``scores/nb<NN>_<classifier>_<strategy>_seed<k>.npz``."""
        name = f"nb{_norm_notebook(notebook)}_{file_slug(classifier)}_{file_slug(strategy)}_seed{int(seed)}.npz"
        return self.scores_dir / name

    def load_scores(self, notebook: str, classifier: str, strategy: str, seed: int,
                    split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """``(y_true, y_score)`` of one recorded run on ``split`` ("test" or "val")."""
        if split not in ("test", "val"):
            raise ValueError(f"split must be 'test' or 'val', not {split!r}")
        path = self.scores_path(notebook, classifier, strategy, seed)
        data = artifacts.load_npz(path, keys=(f"y_{split}", f"score_{split}"),
                                  hint=f"Run notebook {_norm_notebook(notebook)} first (it saves every run's scores).")
        return data[f"y_{split}"], data[f"score_{split}"]

    def loader(self, results: pd.DataFrame):
        """``load_scores(classifier, strategy, seed)`` for the rows of ``results`` (each classifier's notebook)."""
        notebook_of = dict(zip(results["classifier"], results["notebook"], strict=False))

        def load(classifier: str, strategy: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
            return self.load_scores(notebook_of[classifier], classifier, strategy, seed)

        return load

    def saved_fingerprint(self, notebook: str, classifier: str, strategy: str, seed: int) -> dict[str, Any] | None:
        """The full fingerprint stored with a run's scores (None when the file is missing)."""
        path = self.scores_path(notebook, classifier, strategy, seed)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            return json.loads(str(data["provenance"])) if "provenance" in data.files else None

    # -------------------------------------------------------------------------------- resuming
    def is_done(self, notebook: str, classifier: str, strategy: str, seed: int,
                fingerprint: Mapping[str, Any], table: pd.DataFrame | None = None) -> bool:
        """True when the run's row exists with this fingerprint; raise when it exists with another."""
        table = self.read() if table is None else table
        if table.empty:
            return False
        key = _key(notebook, classifier, strategy, seed)
        hit = table[(table["notebook"] == key[0]) & (table["classifier"] == key[1])
                    & (table["strategy"] == key[2]) & (table["seed"] == key[3])]
        if hit.empty:
            return False
        if str(hit["fingerprint"].iloc[0]) == provenance.fingerprint_id(fingerprint):
            return True
        saved = self.saved_fingerprint(*key) or {"fingerprint_id": str(hit["fingerprint"].iloc[0])}
        raise provenance.mismatch_error(
            f"{self.path} (run {key[1]} / {key[2]} / seed {key[3]})", saved, fingerprint, "result row")

    # -------------------------------------------------------------------------------- writing
    def record(
        self,
        *,
        notebook: str,
        classifier: str,
        strategy: str,
        seed: int,
        fingerprint: Mapping[str, Any],
        y_test: Any,
        score_test: Any,
        y_val: Any,
        score_val: Any,
        columns: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Save the scores (with the fingerprint), then append the row; return the row.

        ``columns``: everything else the row holds (context such as dataset and profile, metrics,
        sizes, times). The key, then ``columns``, then ``fingerprint`` (last).
        """
        if classifier not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {classifier!r}; known: {list(CLASSIFIERS)}")
        if strategy not in ALL_STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; known: {list(ALL_STRATEGIES)}")
        clash = [k for k in columns if k in (*RUN_KEY, "fingerprint")]
        if clash:
            raise ValueError(f"columns {clash} are filled in by the results table; drop them")
        fp = provenance.normalise(dict(fingerprint))
        artifacts.save_npz(
            self.scores_path(notebook, classifier, strategy, seed),
            y_test=np.asarray(y_test), score_test=np.asarray(score_test, dtype=np.float64),
            y_val=np.asarray(y_val), score_val=np.asarray(score_val, dtype=np.float64),
            provenance=np.str_(json.dumps(fp, sort_keys=True)),
        )
        row: dict[str, Any] = {"notebook": _norm_notebook(notebook), "classifier": classifier,
                               "strategy": strategy, "seed": int(seed)}
        row.update(columns)
        row["fingerprint"] = provenance.fingerprint_id(fp)
        self._append(row)
        return row

    def _append(self, row: Mapping[str, Any]) -> None:
        new = pd.DataFrame([dict(row)])
        if self.path.exists():
            old = read_results(self.path)
            key = _key(row["notebook"], row["classifier"], row["strategy"], row["seed"])
            same = ((old["notebook"] == key[0]) & (old["classifier"] == key[1])
                    & (old["strategy"] == key[2]) & (old["seed"] == key[3]))
            table = pd.concat([old[~same], new], ignore_index=True)
        else:
            table = new
        cols = [c for c in table.columns if c != "fingerprint"] + ["fingerprint"]
        with artifacts.atomic_write(self.path) as tmp:
            table[cols].to_csv(tmp, index=False)

    def rows(self, keys: Iterable[tuple]) -> pd.DataFrame:
        """The rows of the given run keys ``(notebook, classifier, strategy, seed)``, in table order."""
        table = self.read()
        if table.empty:
            return table
        wanted = {_key(*k) for k in keys}
        mask = [k in wanted for k in zip(table["notebook"], table["classifier"], table["strategy"],
                                         table["seed"], strict=True)]
        return table[np.asarray(mask, dtype=bool)].reset_index(drop=True)
