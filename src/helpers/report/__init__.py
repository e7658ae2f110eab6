"""Tables and plain-language sentences computed from the results (notebooks 04-06); figures are in :mod:`.plots`.

:mod:`.tables` (summaries, files), :mod:`.table1` (Ghosh & Dutta's Table 1 beside ours),
:mod:`.verdicts` (with vs without, paired tests), :mod:`.lessons` (notes and README lessons).
"""

from helpers.oversampling.strategies import TABLE_1_ARMS  # notebooks read report.TABLE_1_ARMS
from helpers.report import lessons, table1, tables, verdicts
from helpers.report.lessons import *  # noqa: F403
from helpers.report.table1 import *  # noqa: F403
from helpers.report.tables import *  # noqa: F403
from helpers.report.verdicts import *  # noqa: F403

__all__ = ["TABLE_1_ARMS", *tables.__all__, *table1.__all__, *verdicts.__all__, *lessons.__all__]
