"""Chapter 7's NIH path on the real NIH sample the realdata tests use; skipped when it is absent.

The sample is the NIH distribution layout with the full Data_Entry_2017.csv, the official lists and 24
of the 1024 px PNGs: the loader finds those 24, the streaming cache decodes them once, and chapter 7's
study folder reads them back as memory maps. Run with ``-s`` to see the counts and timings.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from helpers import config, multilabel
from helpers.core import provenance
from helpers.data import NIH_LABELS, LazyImages, load_splits, streaming

NIH = Path(__file__).resolve().parents[2] / "shared" / "data" / "nih_sample"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (NIH / "Data_Entry_2017.csv").is_file(), reason=f"{NIH} is absent"),
]


@pytest.fixture(scope="module")
def splits():
    return load_splits("nih", 32, data_path=NIH, seed=0)


def test_the_nih_files_stream_through_the_cache(splits, tmp_path):
    assert sum(len(ds) for ds in splits.values()) == 24
    train = splits["train"]
    assert isinstance(train.images, LazyImages) and train.class_names == NIH_LABELS
    assert train.labels.shape == (len(train), 14) and train.labels.dtype == np.uint8
    t0 = time.perf_counter()
    cached = streaming.build_cache(train.paths, 32, tmp_path, log=print)
    first = time.perf_counter() - t0
    np.testing.assert_array_equal(cached, np.asarray(train.images))  # the same pixels as the loader's
    t0 = time.perf_counter()
    streaming.build_cache(train.paths, 32, tmp_path, log=None)
    print(f"{len(train)} NIH PNGs of 1024 px: {first:.2f} s to decode into the cache, "
          f"{time.perf_counter() - t0:.3f} s to open it again")
    assert cached.shape == (len(train), 32, 32) and cached.std() > 0
    batches = list(streaming.training_dataset(cached, train.labels, batch_size=4, seed=0, epochs=1))
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    assert x.shape == (len(train), 32, 32, 1) and y.shape == (len(train), 14)
    order = [int(np.flatnonzero((np.asarray(cached) == img[..., 0]).all(axis=(1, 2)))[0]) for img in x]
    np.testing.assert_array_equal(y, train.labels[order])  # every image kept its own label row
    assert sorted(order) == list(range(len(train)))


def test_streaming_without_a_cache_decodes_the_files_each_epoch(splits):
    test = splits["test"]
    batches = list(streaming.stream_files(test.paths, test.labels, 28, batch_size=3, seed=1, epochs=2, log=None))
    assert sum(len(b[0]) for b in batches) == 2 * len(test)
    assert batches[0][0].shape[1:] == (28, 28, 1) and batches[0][1].shape[1] == 14


def test_chapter_7_loads_nih_into_its_own_folder(tmp_path, clean_env):
    cfg = config.resolve("ci", run_dir=tmp_path / "run")
    study = multilabel.load_study(cfg, dataset="nih", data_path=NIH, image_size=32, seed=0)
    assert study.dataset == "nih" and study.names == NIH_LABELS
    for name, ds in study.splits.items():
        assert isinstance(ds.images, np.memmap), name  # read back from the cache, not held as files
        assert ds.images.shape == (len(ds), 32, 32) and ds.patient_ids is not None
    caches = sorted(p.name for p in (study.folder / "cache").iterdir())
    assert len(caches) == 3 and all(c.startswith("32px-cv2-") for c in caches)
    fp = provenance.read(study.folder)
    assert fp["dataset"] == "nih" and fp["data_options"]["split_seed"] == 0
    counts = multilabel.label_counts(study)
    assert int(counts.to_numpy().sum()) == sum(int(np.asarray(ds.labels).sum()) for ds in study.splits.values())
    print(counts.T.to_string())
    scarce = multilabel.scarcest_findings(study.splits["train"].labels, study.names, 3, min_positive=1)
    assert all(counts["train"].iloc[c] >= 1 for c in scarce)
    again = multilabel.load_study(cfg, dataset="nih", data_path=NIH, image_size=32, seed=0)
    assert again.data_id == study.data_id  # the same files, the same fingerprint
    with pytest.raises(provenance.ProvenanceError, match="chapter-7 folder"):
        multilabel.load_study(cfg, dataset="nih", data_path=NIH, image_size=64, seed=0)
