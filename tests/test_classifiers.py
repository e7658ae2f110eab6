"""Classifiers (CNN, DenseNet121 wrapper), the resumable fit loop and the notebook-05 grid, on tiny data."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pandas as pd
import pytest

from helpers import classifiers
from helpers.classifiers import deep
from helpers.classifiers.results import ResultsTable
from helpers.core.provenance import ProvenanceError
from helpers.data import Dataset
from helpers.evaluation.scores import METRIC_COLUMNS
from helpers.oversampling import oversample
from helpers.oversampling.oversample import prepare_training_set

SIZE = 32


def squares(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 32 px images; label 1 (about 2/3 of them) carries a bright square somewhere."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.65).astype(np.int64)
    y[:2] = [0, 1]
    x = rng.normal(60, 20, size=(n, SIZE, SIZE))
    for i in np.flatnonzero(y):
        r, c = rng.integers(2, SIZE - 12, size=2)
        x[i, r:r + 10, c:c + 10] = 220
    return np.clip(x, 0, 255).astype(np.uint8), y


@pytest.fixture(scope="module")
def tiny():
    return {split: squares(n, seed) for split, n, seed in (("train", 48, 0), ("val", 24, 1), ("test", 24, 2))}


def _fit(tmp_path, tiny, **kw):
    x, y = tiny["train"]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = classifiers.build_cnn(SIZE, filters=(8, 16), dense=16)
    ts = prepare_training_set("none", x, y, seed=0)
    extra = {k: kw.pop(k) for k in ("callbacks", "fingerprint") if k in kw}
    settings = classifiers.FitSettings(**{"epochs": 2, "batch_size": 16, "seed": 0, "patience": 3,
                                          "max_steps_per_epoch": 2, **kw})
    return classifiers.fit_classifier(model, ts, *tiny["val"], settings, run_dir=tmp_path / "run", **extra)


def test_cnn_shapes_and_output_range(tiny):
    model = classifiers.build_cnn(SIZE)
    assert model.input_shape == (None, SIZE, SIZE, 1)
    assert model.output_shape == (None, 1)
    assert model.layers[-1].dtype_policy.compute_dtype == "float32"
    scores = classifiers.predict_scores(model, tiny["val"][0][:5])
    assert scores.shape == (5,) and np.all((scores >= 0) & (scores <= 1))
    with pytest.raises(ValueError, match="grayscale images"):
        classifiers.predict_scores(model, np.zeros((2, SIZE, SIZE, 3)))


def test_fit_writes_history_best_weights_and_done(tmp_path, tiny):
    model, history, seconds = _fit(tmp_path, tiny)
    run = tmp_path / "run"
    assert list(history.columns) == list(classifiers.HISTORY_COLUMNS)
    assert history["epoch"].tolist() == [1, 2]
    assert history["val_auc_exact"].between(0, 1).all()
    assert history[["loss", "accuracy", "auc", "val_loss", "val_accuracy"]].notna().all().all()
    assert (run / "best.weights.h5").exists() and not (run / "backup").exists()
    done = json.loads((run / "done.json").read_text())
    assert done["epochs_run"] == 2 and done["best_epoch"] in (1, 2) and seconds > 0
    # the returned model carries the best epoch's weights: its val AUC is the best one
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(tiny["val"][1], classifiers.predict_scores(model, tiny["val"][0]))
    assert auc == pytest.approx(history["val_auc_exact"].max(), abs=1e-6)
    # a finished run is loaded, not retrained
    _, again, seconds2 = _fit(tmp_path, tiny)
    pd.testing.assert_frame_equal(history, again)
    assert seconds2 == pytest.approx(seconds)


class Crash(keras.callbacks.Callback):
    def __init__(self, at_epoch: int | None):
        super().__init__()
        self.at_epoch, self.seen = at_epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated kill")


def test_resume_after_kill_continues_at_next_epoch(tmp_path, tiny):
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path, tiny, epochs=3, callbacks=[Crash(at_epoch=2)])
    run = tmp_path / "run"
    assert (run / "backup").is_dir() and not (run / "done.json").exists()
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [1, 2]
    probe = Crash(at_epoch=None)
    model, history, _ = _fit(tmp_path, tiny, epochs=3, callbacks=[probe])
    assert probe.seen == [2]  # only the third epoch ran
    assert history["epoch"].tolist() == [1, 2, 3]
    done = json.loads((run / "done.json").read_text())
    assert done["resumed_at_epoch"] == 3 and done["epochs_run"] == 3
    assert done["best_val_auc"] == pytest.approx(history["val_auc_exact"].max())
    # same batches, dropout draws, optimizer state: identical to a run that was never killed
    resumed_scores = classifiers.predict_scores(model, tiny["test"][0])
    ref_model, reference, _ = _fit(tmp_path / "ref", tiny, epochs=3)
    cols = ["loss", "accuracy", "val_loss", "val_auc_exact"]
    np.testing.assert_allclose(history[cols].to_numpy(), reference[cols].to_numpy(), rtol=1e-6)
    ref_scores = classifiers.predict_scores(ref_model, tiny["test"][0])
    np.testing.assert_allclose(resumed_scores, ref_scores, rtol=1e-5)  # same best weights restored


def test_densenet_rejects_small_inputs():
    with pytest.raises(ValueError, match="needs input_size >= 32"):
        classifiers.build_densenet121(28, None)


def test_densenet_forward_pass_with_resizing():
    keras.backend.clear_session()
    model, desc = classifiers.build_densenet121(32, None, image_size=28)
    assert desc.startswith("from scratch")
    assert model.input_shape == (None, 28, 28, 1)
    x = np.random.default_rng(0).integers(0, 256, size=(2, 28, 28, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(model(x, training=False))
    assert out.shape == (2, 1) and np.all((out >= 0) & (out <= 1))
    layer = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(classifiers.GrayToRGB()))
    assert isinstance(layer, classifiers.GrayToRGB)
    assert [type(lay).__name__ for lay in model.layers[1:5]] == ["Resizing", "GrayToRGB", "Rescaling", "Normalization"]


def test_densenet_imagenet_unavailable_says_so(monkeypatch, capsys):
    calls = []

    def fake_densenet(*, include_top, weights, input_shape, pooling):
        calls.append(weights)
        if weights == "imagenet":
            raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]")
        inp = keras.Input(input_shape)
        return keras.Model(inp, keras.layers.GlobalAveragePooling2D()(inp))

    monkeypatch.setattr(keras.applications, "DenseNet121", fake_densenet)
    model, desc = classifiers.build_densenet121(32, "imagenet")
    out = capsys.readouterr().out
    assert calls == ["imagenet", None]
    assert out.count("\n") == 1 and "unavailable" in out and "from scratch" in out
    assert desc.startswith("from scratch (ImageNet weights unavailable: Exception: URL fetch failure")
    assert "https://" not in desc and "[Errno -3]" in desc
    assert model.output_shape == (None, 1)


def _splits(tiny):
    return {
        split: Dataset(name="tiny", split=split, images=x, labels=y, class_names=("NORMAL", "PNEUMONIA"),
                       source="test", multi_label=False, image_size=SIZE)
        for split, (x, y) in tiny.items()
    }


def test_deep_grid_rows_resume_and_no_leak(tmp_path, tiny, capsys):
    splits = _splits(tiny)
    fakes = squares(12, 3)[0]
    fakes[:, 10:20, 10:20] = 60  # fakes of class 0 (NORMAL) without a square
    kw = dict(
        splits=splits, fakes=oversample.Fakes({"reference": fakes, "default": fakes[::-1].copy()}, class_id=0),
        models=["cnn"], strategies=["none", "gan", "gan_weighted"], seeds=[0],
        settings=deep.GridSettings(epochs={"cnn": 1}, batch_size=16, patience=2, max_steps_per_epoch=2,
                                   gan_weight_grid=(0.5, 1.0)),
        run_dir=tmp_path, context={"run_id": "test"}, provenance_base={"data": "squares"},
    )
    rows = deep.run_deep_grid(**kw)
    assert len(rows) == 3
    assert set(METRIC_COLUMNS) <= set(rows.columns)
    assert rows.loc[rows["strategy"] != "none", "synthetic_weight"].notna().all()
    for col in ("n_train", "n_synthetic", "epochs_run", "best_epoch", "fit_seconds",
                "seconds_per_epoch", "model_weights", "run_id", "dataset", "image_size"):
        assert rows[col].notna().all(), col
    by = rows.set_index("strategy")
    assert by.loc["none", "n_synthetic"] == 0 and by.loc["gan", "n_synthetic"] == 12
    assert by.loc["gan", "n_train"] == 48 + 12
    assert (rows["n_test"] == 24).all()  # val/test untouched by fakes
    assert by.loc["gan_weighted", "synthetic_weight"] in (0.5, 1.0)
    assert (tmp_path / "deep" / "cnn_gan_weighted_selection.json").exists()
    npz = sorted((tmp_path / "scores").glob("nb05_*.npz"))
    assert len(npz) == 3
    with np.load(npz[0]) as d:
        assert d["y_test"].shape == d["score_test"].shape == (24,) and "provenance" in d.files
    hist = deep.load_histories(tmp_path)
    assert {"model", "strategy", "seed", "role", "accuracy", "val_auc_exact"} <= set(hist.columns)
    assert set(hist["role"]) == {"grid", "selection"}

    before = len(pd.read_csv(tmp_path / "results.csv"))
    again = deep.run_deep_grid(**kw)
    assert len(pd.read_csv(tmp_path / "results.csv")) == before and len(again) == 3

    leaky = dict(kw, fakes=oversample.Fakes({"reference": np.concatenate([fakes, tiny["val"][0][:1]]),
                                       "default": fakes}, class_id=0))
    with pytest.raises(AssertionError, match="val split"):
        deep.run_deep_grid(**leaky)

    # the stale-reuse case: same run folder, other fakes -> an error naming what differs, no refit
    other = dict(kw, fakes=oversample.Fakes({"reference": np.roll(fakes, 1, axis=0)}, class_id=0), strategies=["gan"])
    with pytest.raises(ProvenanceError, match="cnn / gan / seed 0.*synthetic_digest: saved"):
        deep.run_deep_grid(**other)
    with pytest.raises(ProvenanceError, match="data: saved 'squares', now 'other'"):
        deep.run_deep_grid(**dict(kw, provenance_base={"data": "other"}))


def test_a_callers_cnn_trains_like_the_package_one_and_joins_the_fingerprint(tmp_path, tiny):
    """Chapter 5 hands its own CNN to the grid: the same network gives the same scores; another one is
    not mistaken for the finished run."""
    settings = deep.GridSettings(epochs={"cnn": 1}, batch_size=16, patience=None, max_steps_per_epoch=2)
    kw = dict(splits=_splits(tiny), models=["cnn"], strategies=["none"], seeds=[0], context={},
              provenance_base={"data": "squares"})
    deep.run_deep_grid(run_dir=tmp_path / "package", settings=settings, **kw)
    same = dataclasses.replace(settings, build_cnn=lambda size: classifiers.build_cnn(size))
    deep.run_deep_grid(run_dir=tmp_path / "caller", settings=same, **kw)
    scores = [ResultsTable(tmp_path / d).load_scores("05", "cnn", "none", 0)[1] for d in ("package", "caller")]
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-6)
    other = dataclasses.replace(settings, build_cnn=lambda size: classifiers.build_cnn(size, dense=16))
    with pytest.raises(ProvenanceError, match="architecture"):
        deep.run_deep_grid(run_dir=tmp_path / "caller", settings=other, **kw)


def test_fit_classifier_refuses_a_folder_of_other_inputs(tmp_path, tiny):
    _fit(tmp_path, tiny, fingerprint={"data": "a"})
    with pytest.raises(ProvenanceError, match="classifier run made from other inputs.*fingerprint: saved"):
        _fit(tmp_path, tiny, fingerprint={"data": "b"})
    with pytest.raises(ProvenanceError, match="epochs: saved 2, now 3"):
        _fit(tmp_path, tiny, epochs=3, fingerprint={"data": "a"})
    x, y = tiny["train"]
    other = {**tiny, "val": (tiny["val"][0][::-1].copy(), tiny["val"][1][::-1].copy())}
    with pytest.raises(ProvenanceError, match="data_digest: saved"):
        _fit(tmp_path, other, fingerprint={"data": "a"})


def test_grid_reuses_one_model_per_architecture_and_redraws_weights(tmp_path, tiny):
    """Reset per run: one traced model per grid; same seed -> same scores as a new model; seeds differ."""
    splits = _splits(tiny)
    kw = dict(
        splits=splits, models=["cnn"], strategies=["none"],
        settings=deep.GridSettings(epochs={"cnn": 1}, batch_size=16, patience=2, max_steps_per_epoch=2),
        context={"run_id": "test"}, provenance_base={"data": "squares"},
    )
    both = deep.run_deep_grid(seeds=[0, 1], run_dir=tmp_path / "both", **kw)
    alone = deep.run_deep_grid(seeds=[1], run_dir=tmp_path / "alone", **kw)
    again = deep.run_deep_grid(seeds=[1], run_dir=tmp_path / "again", **kw)
    scores = {name: ResultsTable(tmp_path / name).load_scores("05", "cnn", "none", 1)[1]
              for name in ("both", "alone", "again")}
    # seed 1 after seed 0 on the re-used model == seed 1 on a freshly built one
    np.testing.assert_allclose(scores["both"], scores["alone"], rtol=1e-6)
    np.testing.assert_allclose(scores["alone"], scores["again"], rtol=1e-6)
    seed0 = ResultsTable(tmp_path / "both").load_scores("05", "cnn", "none", 0)[1]
    assert not np.allclose(seed0, scores["both"])
    assert len(both) == 2 and len(alone) == len(again) == 1


def test_strong_recipe_resets_per_run_and_is_named_in_rows(tmp_path, tiny):
    """cnn_strong: the schedule's length is set per run on one compiled model; same seed, same scores."""
    splits = _splits(tiny)
    kw = dict(
        splits=splits, models=["cnn_strong"], strategies=["none"],
        settings=deep.GridSettings(epochs={"cnn": 2}, batch_size=16, patience=None, max_steps_per_epoch=2),
        context={"run_id": "test"}, provenance_base={"data": "squares"},
    )
    both = deep.run_deep_grid(seeds=[0, 1], run_dir=tmp_path / "both", **kw)
    deep.run_deep_grid(seeds=[1], run_dir=tmp_path / "alone", **kw)
    s_both = ResultsTable(tmp_path / "both").load_scores("05", "cnn_strong", "none", 1)[1]
    s_alone = ResultsTable(tmp_path / "alone").load_scores("05", "cnn_strong", "none", 1)[1]
    np.testing.assert_allclose(s_both, s_alone, rtol=1e-6)
    assert set(both["recipe"]) == {"strong"} and set(both["dtype_policy"]) == {"float32"}
    spec = json.loads((tmp_path / "both" / "deep" / "cnn_strong_none_seed0" / "spec.json").read_text())
    assert spec["recipe"]["optimizer"] == "adamw" and spec["recipe"]["label_smoothing"] > 0
    # the reference recipe's rows differ from the strong ones on the same data and seed
    ref = deep.run_deep_grid(seeds=[1], run_dir=tmp_path / "ref", **{**kw, "models": ["cnn"]})
    assert set(ref["recipe"]) == {"reference"}
    assert not np.allclose(ResultsTable(tmp_path / "ref").load_scores("05", "cnn", "none", 1)[1], s_alone)


def test_warmup_cosine_schedule():
    sched = classifiers.WarmupCosine(1e-3, total=100, warmup=10)
    lr = [float(sched(step)) for step in (0, 5, 10, 55, 100, 150)]
    np.testing.assert_allclose(lr, [0.0, 5e-4, 1e-3, 5e-4, 0.0, 0.0], atol=1e-9)
    sched.set_steps(total=20, warmup=0)  # another run's length, same object (no re-compile)
    np.testing.assert_allclose([float(sched(0)), float(sched(10)), float(sched(20))], [1e-3, 5e-4, 0.0], atol=1e-9)


def test_recipe_names_round_trip_and_bad_names_raise():
    from helpers.classifiers import recipes

    for name in recipes.DEEP_CLASSIFIERS:
        arch, recipe = recipes.parse_classifier(name)
        assert recipes.classifier_name(arch, recipe.name) == name
    assert recipes.parse_classifier("densenet121_strong")[1] is recipes.RECIPES["strong"]
    with pytest.raises(ValueError, match="unknown deep classifier 'cnn_fast'"):
        recipes.parse_classifier("cnn_fast")
    with pytest.raises(ValueError, match="schedule"):
        recipes.Recipe("x", schedule="step")
    with pytest.raises(ValueError, match="warm-up"):
        recipes.Recipe("x", warmup_epochs=1.0)
    assert recipes.RECIPES["strong"].augmentation(0) is not None and recipes.RECIPES["reference"].augmentation(0) is None


def test_a_run_trained_in_float32_is_not_reused_for_another_precision(tmp_path, tiny, monkeypatch):
    splits = _splits(tiny)
    kw = dict(
        splits=splits, models=["cnn"], strategies=["none"], seeds=[0],
        settings=deep.GridSettings(epochs={"cnn": 1}, batch_size=16, patience=None, max_steps_per_epoch=2),
        run_dir=tmp_path, context={}, provenance_base={"data": "squares"},
    )
    rows = deep.run_deep_grid(**kw)
    assert set(rows["dtype_policy"]) == {"float32"}
    monkeypatch.setenv("HELPERS_PRECISION", "mixed_bfloat16")
    try:
        with pytest.raises(ProvenanceError, match="dtype_policy"):
            deep.run_deep_grid(**kw)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_test_time_augmentation_and_batchnorm_adaptation(tiny):
    x = tiny["test"][0]
    model = classifiers.build_cnn(SIZE, filters=(8, 16), dense=16)
    plain = classifiers.predict_scores(model, x)
    np.testing.assert_allclose(classifiers.predict_tta(model, x, shifts=[(0, 0)]), plain)
    flat = np.full((2, SIZE, SIZE), 90, dtype=np.uint8)  # shifting a flat image changes nothing
    np.testing.assert_allclose(classifiers.predict_tta(model, flat), classifiers.predict_scores(model, flat), rtol=1e-6)
    assert not np.allclose(classifiers.predict_tta(model, x, shifts=[(3, 0)]), plain)

    before = [w.copy() for w in model.get_weights()]
    adapted = classifiers.adapt_batchnorm(model, x)
    for a, b in zip(model.get_weights(), before, strict=True):  # the original model is untouched
        np.testing.assert_array_equal(a, b)
    conv1 = keras.Model(adapted.input, adapted.get_layer("conv1").output)(classifiers.to_model_input(x))
    bn1 = adapted.get_layer("bn1")
    np.testing.assert_allclose(bn1.moving_mean.numpy(), np.mean(conv1, axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn1.moving_variance.numpy(), np.var(conv1, axis=(0, 1, 2)), rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(adapted.get_layer("conv1").get_weights()[0], model.get_layer("conv1").get_weights()[0])
    with pytest.raises(ValueError, match="no BatchNormalization"):
        inp = keras.Input((SIZE, SIZE, 1))
        classifiers.adapt_batchnorm(keras.Model(inp, keras.layers.Flatten()(inp)), x)


def test_dose_response_refuses_too_few_fakes(tmp_path, tiny):
    fakes = {0: oversample.Fakes({"reference": squares(5, 3)[0]}, class_id=0)}
    with pytest.raises(ValueError, match=r"seed 0: 2.0× the gap needs 20 fakes, only 5"):
        deep.run_dose_response(_splits(tiny), model="cnn", fakes=fakes, gaps={0: 10}, multipliers=[2.0],
                               settings=deep.GridSettings(epochs={"cnn": 1}), run_dir=tmp_path)


def test_dose_response_reuses_the_grids_gan_run_at_1x_and_refuses_other_fakes(tmp_path, tiny):
    from helpers.core.provenance import ProvenanceError

    fakes = squares(12, 3)[0]
    fakes[:, 10:20, 10:20] = 60
    settings = deep.GridSettings(epochs={"cnn": 1}, batch_size=16, patience=None, max_steps_per_epoch=2)
    grid = deep.run_deep_grid(_splits(tiny), models=["cnn"], strategies=["gan"], seeds=[0], settings=settings,
                              fakes=oversample.Fakes({"reference": fakes}, class_id=0), run_dir=tmp_path)
    pool = {0: oversample.Fakes({"reference": np.concatenate([fakes, fakes[::-1]])}, class_id=0)}
    dose = deep.run_dose_response(_splits(tiny), model="cnn", fakes=pool, gaps={0: 12}, multipliers=[1.0],
                                  settings=settings, run_dir=tmp_path)
    assert dose["roc_auc"].iloc[0] == grid["roc_auc"].iloc[0] and dose["n_fakes"].iloc[0] == 12
    assert not (tmp_path / "dose").exists()  # nothing trained again
    other = {0: oversample.Fakes({"reference": fakes[::-1].copy()}, class_id=0)}
    with pytest.raises(ProvenanceError):
        deep.run_dose_response(_splits(tiny), model="cnn", fakes=other, gaps={0: 12}, multipliers=[1.0],
                               settings=settings, run_dir=tmp_path)
