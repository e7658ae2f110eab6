"""Chapter 7: multi-label chest X-ray classification (the NIH ChestX-ray14 findings), with and without GAN images.

It reproduces the multi-label study of Sumithra Devi K A et al. (DSATM): a CNN with one sigmoid output per
finding, trained with and without GAN images of the scarcest findings. :mod:`~helpers.multilabel.data`
loads the study's data, :mod:`~helpers.multilabel.generation` makes the GAN images,
:mod:`~helpers.multilabel.model` trains the classifier, :mod:`~helpers.multilabel.metrics` scores it and
:mod:`~helpers.multilabel.study` runs and records the two arms.
"""

from helpers.multilabel.data import (
    STUDY_DATASETS,
    Study,
    conditional_rates,
    gan_training_set,
    label_counts,
    load_study,
    scarcest_findings,
)
from helpers.multilabel.generation import (
    FindingGenerators,
    finding_fidelity,
    synthetic_for_findings,
    train_finding_gans,
)
from helpers.multilabel.metrics import (
    accuracy_summary,
    f1_thresholds,
    finding_metrics,
    gan_effect,
    mean_auroc,
    per_finding_auroc,
)
from helpers.multilabel.model import (
    FitSettings,
    MeanAUROCCallback,
    build_cnn_multilabel,
    fit_multilabel,
    load_histories,
    predict_multilabel,
)
from helpers.multilabel.study import (
    ARMS,
    CHEXNET_AUROC,
    CHEXNET_SOURCE,
    RESULTS_FILE,
    FindingResults,
    run_arm,
)

__all__ = [
    "ARMS", "RESULTS_FILE", "CHEXNET_AUROC", "CHEXNET_SOURCE", "STUDY_DATASETS", "Study",
    "load_study", "label_counts", "conditional_rates", "scarcest_findings", "gan_training_set",
    "FindingGenerators", "train_finding_gans", "synthetic_for_findings", "finding_fidelity",
    "build_cnn_multilabel", "MeanAUROCCallback", "FitSettings", "fit_multilabel",
    "predict_multilabel", "load_histories", "per_finding_auroc", "mean_auroc", "f1_thresholds",
    "finding_metrics", "accuracy_summary", "gan_effect", "FindingResults", "run_arm",
]
