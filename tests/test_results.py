"""helpers.classifiers.results: one table for both grids; skip only matching runs; damaged tables stop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.classifiers.results import ResultsError, ResultsTable, read_results
from helpers.core.provenance import ProvenanceError

Y = np.array([0, 0, 1, 1, 1])
S = np.array([0.1, 0.6, 0.4, 0.8, 0.9])


def _record(table: ResultsTable, strategy: str = "none", seed: int = 0, fp: dict | None = None, **cols):
    return table.record(notebook="05", classifier="cnn", strategy=strategy, seed=seed,
                        fingerprint=fp or {"data": "d1", "epochs": 2}, y_test=Y, score_test=S, y_val=Y,
                        score_val=S, columns={"dataset": "phantom", "roc_auc": 0.83, **cols})


def test_record_skip_and_scores(tmp_path):
    table = ResultsTable(tmp_path)
    assert table.read().empty
    row = _record(table)
    assert list(pd.read_csv(table.path).columns)[-1] == "fingerprint" and len(row["fingerprint"]) == 12
    assert table.is_done("05", "cnn", "none", 0, {"data": "d1", "epochs": 2})
    assert table.is_done("5", "cnn", "none", 0.0, {"epochs": 2.0, "data": "d1"})  # CSV round trips
    assert not table.is_done("05", "cnn", "none", 1, {"data": "d1", "epochs": 2})
    y, s = table.load_scores("05", "cnn", "none", 0)
    assert np.array_equal(y, Y) and np.allclose(s, S)
    assert table.saved_fingerprint("05", "cnn", "none", 0) == {"data": "d1", "epochs": 2}
    _record(table, seed=1)
    assert len(table.rows([("05", "cnn", "none", 1)])) == 1 and len(table.read()) == 2


def test_a_row_of_other_inputs_is_an_error_naming_what_differs(tmp_path):
    table = ResultsTable(tmp_path)
    _record(table)
    with pytest.raises(ProvenanceError) as err:
        table.is_done("05", "cnn", "none", 0, {"data": "d2", "epochs": 2})
    msg = str(err.value)
    assert str(table.path) in msg and "data: saved 'd1', now 'd2'" in msg and "fresh=True" in msg


@pytest.mark.parametrize("edit, detail", [
    (lambda text: text[: text.rindex(",")], "line 2: the row is incomplete"),  # cut before the fingerprint
    (lambda text: text.replace(",none,", ",no,"), "line 2: unknown strategy 'no'"),
    (lambda text: text.replace(",cnn,", ",cn,"), "line 2: unknown classifier 'cn'"),
    (lambda text: text.replace(",0.83,", ",8.3,"), "line 2: roc_auc = 8.3"),
    (lambda text: text.replace("notebook,", "noteb,", 1), "line 1: the header lacks the columns ['notebook']"),
    (lambda text: "", "the file is empty"),
    (lambda text: text + text.splitlines()[1] + "\n", "line 3: run ('05', 'cnn', 'none', 0) appears twice"),
])
def test_damaged_tables_stop_with_the_line(tmp_path, edit, detail):
    table = ResultsTable(tmp_path)
    _record(table)
    table.path.write_text(edit(table.path.read_text()))
    with pytest.raises(ResultsError, match="damaged") as err:
        read_results(table.path)
    assert detail in str(err.value) and str(table.path) in str(err.value)
    with pytest.raises(ResultsError):
        table.is_done("05", "cnn", "none", 0, {"data": "d1", "epochs": 2})


def test_record_rejects_unknown_names_and_reserved_columns(tmp_path):
    table = ResultsTable(tmp_path)
    with pytest.raises(ValueError, match="unknown strategy"):
        _record(table, strategy="gan_filterd")
    with pytest.raises(ValueError, match="filled in by the results table"):
        _record(table, fingerprint="x")
