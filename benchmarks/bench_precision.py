"""float32 vs mixed bfloat16 for chapter 5's models: seconds per epoch, and what it does to AUC.

Trains each model once per precision policy on the same data, seed and epochs (the policy comes
from ``HELPERS_PRECISION``, as for a series run), scores val and test, and writes
``build/benchmarks/precision.json``. On real data pass ``--npz`` (a PneumoniaMNIST ``.npz``); without it
the phantom stands in (timings only mean something then)::

    python benchmarks/bench_precision.py --npz ~/data/pneumoniamnist_28.npz --models cnn densenet121 --epochs 6

Each (model, policy) runs in its own process, so the policy is set before anything is built.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ONE_RUN = """
import json, sys, tempfile, time
import numpy as np
from sklearn.metrics import roc_auc_score
from helpers import classifiers, data
from helpers.oversampling import oversample
from helpers.core import runtime
model_name, npz, epochs, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if npz:
    splits = data.load_splits("pneumoniamnist", 28, data_path=npz)
else:
    splits = data.load_splits("phantom", 32, seed=0, n_train=1200, n_val=300, n_test=300)
(x, y), (xv, yv), (xt, yt) = [(np.asarray(splits[s].images), np.asarray(splits[s].labels).ravel()) for s in ("train", "val", "test")]
runtime.set_seeds(seed)
policy = runtime.enable_mixed_precision_if_gpu()
size = x.shape[1]
model = classifiers.build_cnn(size) if model_name == "cnn" else classifiers.build_densenet121(max(size, 32), None, image_size=size)[0]
ts = oversample.prepare_training_set("none", x, y, seed=seed)
with tempfile.TemporaryDirectory() as tmp:
    fit = classifiers.FitSettings(epochs=epochs, batch_size=64, seed=seed, patience=None)
    model, hist, seconds = classifiers.fit_classifier(model, ts, xv, yv, fit, run_dir=tmp)
p_val, p_test = classifiers.predict_scores(model, xv), classifiers.predict_scores(model, xt)
per_epoch = hist["seconds"].tolist()
print("RESULT " + json.dumps({"model": model_name, "policy": policy, "compute_dtype": model.layers[-2].dtype_policy.compute_dtype,
      "seconds_per_epoch_after_first": float(np.mean(per_epoch[1:])) if len(per_epoch) > 1 else float(per_epoch[0]),
      "first_epoch_seconds": float(per_epoch[0]), "val_auc": float(roc_auc_score(yv, p_val)),
      "test_auc": float(roc_auc_score(yt, p_test)), "test_accuracy": float(np.mean((p_test >= 0.5) == (yt == 1)))}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npz", default="", help="PneumoniaMNIST .npz (default: phantom data)")
    parser.add_argument("--models", nargs="+", default=["cnn", "densenet121"])
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for policy in args.policies:
                env = {**os.environ, "HELPERS_PRECISION": policy, "TF_CPP_MIN_LOG_LEVEL": "2"}
                out = subprocess.run([sys.executable, "-c", ONE_RUN, model, args.npz, str(args.epochs), str(args.seed)],
                                     capture_output=True, text=True, env=env, cwd=tmp)
                lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
                if out.returncode or not lines:
                    print(out.stderr[-3000:], file=sys.stderr)
                    return 1
                rows.append(json.loads(lines[-1][len("RESULT "):]))
                r = rows[-1]
                print(f"{model:11s} {policy:15s} {r['seconds_per_epoch_after_first']:6.1f} s/epoch (first "
                      f"{r['first_epoch_seconds']:.1f} s)  val AUC {r['val_auc']:.4f}  test AUC {r['test_auc']:.4f}  "
                      f"test acc {r['test_accuracy']:.3f}", flush=True)
    path = ROOT / "build" / "benchmarks" / "precision.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
