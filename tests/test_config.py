from pathlib import Path

import pytest

from helpers import config


def test_every_profile_is_complete_and_consistent():
    assert set(config.PROFILES) >= {"ci", "demo", "quick", "paper"}
    for name, prof in config.PROFILES.items():
        assert prof.name == name
        assert prof.seeds and prof.image_size in (28, 32, 64, 128)
        assert prof.gan_epochs >= 1 and prof.gan_batch_size >= 1
    assert config.PROFILES["ci"].dataset == "phantom" and config.PROFILES["demo"].dataset == "phantom"
    assert config.PROFILES["quick"].dataset == "pneumoniamnist" and config.PROFILES["quick"].image_size == 28
    paper = config.PROFILES["paper"]
    assert paper.image_size == 128 and paper.gan_epochs == 100 and paper.gan_batch_size == 64
    assert paper.cnn_epochs == 30 and paper.densenet_epochs == 30


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ValueError, match="ci.*demo.*paper.*quick"):
        config.get_profile("fast")


def test_resolve_defaults_and_overrides(clean_env, tmp_path):
    cfg = config.resolve("ci", run_dir=tmp_path / "run")
    assert cfg.profile.name == "ci" and cfg.dataset == "phantom" and cfg.image_size == 32
    assert cfg.run_dir == (tmp_path / "run").resolve() and cfg.run_dir.is_dir()
    assert cfg.figures_dir == cfg.run_dir / "figures"
    cfg = config.resolve("ci", dataset="pneumoniamnist", image_size=28, seeds=[3, 4], run_dir=tmp_path)
    assert (cfg.dataset, cfg.image_size, cfg.seeds, cfg.seed) == ("pneumoniamnist", 28, (3, 4), 3)
    assert "ci/pneumoniamnist/28px" in cfg.run_id


def test_environment_wins_over_the_parameters_cell(clean_env, tmp_path):
    clean_env.setenv("HELPERS_PROFILE", "ci")
    clean_env.setenv("HELPERS_RUN_DIR", str(tmp_path / "env-run"))
    clean_env.setenv("HELPERS_FIGURES_DIR", str(tmp_path / "figs"))
    cfg = config.resolve("paper", run_dir=tmp_path / "cell-run")
    assert cfg.profile.name == "ci"
    assert cfg.run_dir == (tmp_path / "env-run").resolve()
    assert cfg.figures_dir == tmp_path / "figs"


def test_default_run_dir_is_the_ignored_build_folder(clean_env):
    for folder in (config.REPO_ROOT, config.REPO_ROOT / "notebooks"):  # `make report`, and Jupyter in notebooks/
        clean_env.chdir(folder)
        assert config.resolve("ci").run_dir == config.REPO_ROOT / "build" / "ci"
    ignored = (config.REPO_ROOT / ".gitignore").read_text().split()
    assert "build/" in ignored


def test_outside_a_checkout_the_run_dir_is_relative_to_the_working_directory(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    cfg = config.resolve("ci", figures_dir="figs")
    assert cfg.run_dir == tmp_path / "build" / "ci" and cfg.run_dir.is_dir()
    assert cfg.figures_dir == tmp_path / "figs"


def test_relative_figures_dir_is_taken_from_the_repo_root(clean_env, tmp_path):
    clean_env.chdir(config.REPO_ROOT / "notebooks")
    cfg = config.resolve("ci", run_dir=tmp_path, figures_dir="build/test-figures")
    assert cfg.figures_dir == config.REPO_ROOT / "build" / "test-figures"


def test_the_commit_stamp_comes_from_the_checkout_else_the_installed_version(clean_env, tmp_path):
    import re

    clean_env.chdir(config.REPO_ROOT)
    if (config.REPO_ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{7,40}(\+dirty)?", config._git_short_sha())
    clean_env.setattr(config, "REPO_ROOT", None)  # installed into site-packages, run outside a checkout
    clean_env.chdir(tmp_path)
    from helpers import __version__

    assert re.fullmatch(rf"v{re.escape(__version__)}(\+g[0-9a-f]{{7}})?", config._git_short_sha())


def test_seeds_default_to_the_profile(clean_env, tmp_path):
    cfg = config.resolve("demo", seeds=None, run_dir=tmp_path)
    assert cfg.seeds == config.PROFILES["demo"].seeds


def test_path_creates_parent_folders(clean_env, tmp_path):
    cfg = config.resolve("ci", run_dir=tmp_path)
    p = cfg.path("gan", "checkpoints", "x.txt")
    assert p.parent.is_dir() and isinstance(p, Path)


def test_real_datasets_download_only_without_a_local_path(clean_env, tmp_path, monkeypatch):
    from helpers import data

    calls = []
    monkeypatch.setattr(data, "load_splits", lambda name, size, **kw: calls.append((name, kw)) or {})
    config.resolve("quick", run_dir=tmp_path / "a").load_splits()
    config.resolve("quick", run_dir=tmp_path / "b", data_path=str(tmp_path / "x.npz")).load_splits()
    config.resolve("ci", run_dir=tmp_path / "c").load_splits()
    assert calls[0][1]["download"] is True and calls[0][1]["data_path"] is None
    assert "download" not in calls[1][1] and calls[1][1]["data_path"].endswith("x.npz")
    assert "download" not in calls[2][1] and calls[2][1]["n_train"] == config.PROFILES["ci"].data_options["n_train"]


def test_a_pip_install_from_git_stamps_its_commit(monkeypatch):
    from importlib import metadata

    class Dist:
        version = "0.1.0"

        def read_text(self, name):
            assert name == "direct_url.json"
            return '{"url": "https://github.com/o/n.git", "vcs_info": {"vcs": "git", "commit_id": "0123456789abcdef"}}'

    monkeypatch.setattr(metadata, "distribution", lambda name: Dist())
    assert config._installed_version() == "v0.1.0+g0123456"


def test_colab_profile_is_real_data_at_64_px_with_gpu_budgets():
    colab, quick = config.PROFILES["colab"], config.PROFILES["quick"]
    assert (colab.dataset, colab.image_size, colab.seeds) == ("pneumoniamnist", 64, (0, 1, 2))
    assert colab.resnet_weights == "imagenet" and colab.densenet_weights == "imagenet"
    assert colab.densenet_input_size == colab.resnet_input_size == 64
    assert colab.gan_steps > quick.gan_steps and colab.gan_generator_filters > quick.gan_generator_filters
    assert colab.densenet_epochs > quick.densenet_epochs
    assert colab.deep_strategies == quick.deep_strategies and colab.gan_ablation == quick.gan_ablation


def test_profile_none_is_colab_on_colab_and_demo_elsewhere(clean_env, tmp_path):
    from helpers.core import runtime

    clean_env.setattr(runtime, "IS_COLAB", False)
    assert config.resolve(run_dir=tmp_path).profile.name == "demo"
    assert config.resolve(None, run_dir=tmp_path).profile.name == "demo"
    clean_env.setattr(runtime, "IS_COLAB", True)
    cfg = config.resolve(None, run_dir=tmp_path)
    assert (cfg.profile.name, cfg.dataset, cfg.image_size) == ("colab", "pneumoniamnist", 64)
    assert config.resolve("ci", run_dir=tmp_path).profile.name == "ci"  # a named profile stays
    clean_env.setenv("HELPERS_PROFILE", "ci")  # and the environment still wins
    assert config.resolve(None, run_dir=tmp_path).profile.name == "ci"


def _write_kermany_folder(root: Path) -> Path:
    """A tiny Kaggle-layout folder with Kermany file names (no val folder, like the full set's copy)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    names = {("train", "NORMAL"): [f"IM-{p:04d}-000{k}.jpeg" for p in range(1, 9) for k in (1, 2)],
             ("train", "PNEUMONIA"): [f"person{p}_bacteria_{p * 10 + k}.jpeg" for p in range(1, 13) for k in (1, 2)],
             ("test", "NORMAL"): [f"IM-{p:04d}-0001.jpeg" for p in (901, 902, 903)],
             ("test", "PNEUMONIA"): [f"person{p}_virus_1.jpeg" for p in (901, 902, 903)]}
    for (split, cname), files in names.items():
        folder = root / "chest_xray" / split / cname
        folder.mkdir(parents=True)
        for name in files:
            assert cv2.imwrite(str(folder / name), rng.integers(0, 256, (90, 110), dtype=np.uint8))
    return root


def test_kermany64_profile_loads_kaggle_layout_at_64_px(clean_env, tmp_path):
    prof = config.get_profile("kermany64")
    assert (prof.dataset, prof.image_size, prof.seeds) == ("kaggle_pneumonia", 64, (0, 1, 2))
    assert set(prof.classical_classifiers) == {"decision_tree", "random_forest", "svm", "ann"}
    assert set(prof.deep_models) == {"cnn", "densenet121"}
    table_1 = {"none", "class_weight", "random", "gan", "gan_improved"}
    for model in prof.deep_models:
        assert set(config.strategies_for(prof, model)) >= table_1, model
    assert set(prof.classical_strategies) >= table_1 and set(prof.ann_strategies) >= table_1
    assert prof.resnet_input_size == prof.densenet_input_size == 64
    cfg = config.resolve("kermany64", data_path=str(_write_kermany_folder(tmp_path / "data")),
                         run_dir=tmp_path / "run")
    splits = cfg.load_splits()
    assert {k: v.images.shape[1:] for k, v in splits.items()} == dict.fromkeys(("train", "val", "test"), (64, 64))
    assert len(splits["train"]) + len(splits["val"]) == 40 and len(splits["test"]) == 6
    assert "patient-wise" in splits["val"].source
    assert not set(splits["train"].patient_ids) & set(splits["val"].patient_ids)
    assert (cfg.run_dir / "provenance.json").is_file() and len(cfg.data_id) > 0
