"""Image classifiers: model builders (:mod:`.models`), the resumable training loop (:mod:`.training`),
callbacks, recipes and chapter 4/5's grids (:mod:`.classical`, :mod:`.deep`)."""

from helpers.classifiers.callbacks import HISTORY_COLUMNS
from helpers.classifiers.layers import GrayToRGB
from helpers.classifiers.models import (
    DENSENET_MIN_SIZE,
    TTA_SHIFTS,
    adapt_batchnorm,
    build_cnn,
    build_densenet121,
    predict_scores,
    predict_tta,
    to_model_input,
)
from helpers.classifiers.training import FitSettings, WarmupCosine, fit_classifier, reset_weights

__all__ = ["HISTORY_COLUMNS", "DENSENET_MIN_SIZE", "TTA_SHIFTS", "GrayToRGB", "FitSettings", "WarmupCosine",
           "adapt_batchnorm", "build_cnn", "build_densenet121", "fit_classifier", "predict_scores", "predict_tta",
           "reset_weights", "to_model_input"]
