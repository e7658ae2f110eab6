"""Every figure of the series, by chapter (notebooks call ``plots.<name>``).

Figures are PNGs stamped with their run (:func:`save_fig`); colours are fixed per class
(:data:`PALETTE`) and per strategy (:data:`STRATEGY_COLORS`).
"""

from helpers.report import (
           diagrams,
           figures_classifiers,
           figures_data,
           figures_gan,
           figures_multilabel,
           figures_results,
           style,
)
from helpers.report.diagrams import *  # noqa: F403
from helpers.report.figures_classifiers import *  # noqa: F403
from helpers.report.figures_data import *  # noqa: F403
from helpers.report.figures_gan import *  # noqa: F403
from helpers.report.figures_multilabel import *  # noqa: F403
from helpers.report.figures_results import *  # noqa: F403
from helpers.report.style import *  # noqa: F403

__all__ = [*style.__all__, *figures_data.__all__, *figures_gan.__all__, *figures_classifiers.__all__,
           *figures_results.__all__, *figures_multilabel.__all__, *diagrams.__all__]
