"""What rules apply here: the plot lookup, the batch and the note de renseignement.

Reuse ``lookup``/``lookup_batch`` with a pool or a connection; they return ``RulesAnswer``.
"""

from geoportal.rules.models import BatchAnswer, BatchItem, RulesAnswer, RulesQuery
from geoportal.rules.rasters import RasterSampler
from geoportal.rules.service import BATCH_LIMIT, lookup, lookup_batch

__all__ = ["BATCH_LIMIT", "BatchAnswer", "BatchItem", "RasterSampler", "RulesAnswer",
           "RulesQuery", "lookup", "lookup_batch"]
