"""The Spark engine's plot sample: a bounded pandas frame taken from Spark.

It is the Spark engine's ``sample_for_plots`` (see ``Engine``), kept in a
module of its own because it was written alongside the rest of the Spark
engine; ``spark_engine`` imports it, so that
``get_engine("sparkml").sample_for_plots`` finds it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame as SparkDataFrame

logger = logging.getLogger(__name__)

_KEY = "_plot_sample_key"


def sample_for_plots(predictions: SparkDataFrame, max_inliers: int) -> pd.DataFrame:
    """Keeps every anomaly and at most ``max_inliers`` inliers, as pandas.

    Inliers are ranked by a hash of their values (``xxhash64`` of every column)
    and the lowest ``max_inliers`` are kept, so the sample is the same on every
    run and Spark only ever hands that many inliers to the driver. Every anomaly
    is collected as well; a table whose anomalies do not fit in the driver's
    memory cannot be plotted this way.

    Args:
        predictions: Spark frame of the scored readings: the reading columns,
            ``prediction`` (1 inlier, -1 anomaly) and ``anomaly_score``.
        max_inliers: Most inlier rows to keep; must be at least 0.

    Returns:
        A pandas frame with the columns of ``predictions``: every anomaly and up
        to ``max_inliers`` inliers, in no set order (the plot nodes sort by
        time).
    """
    columns = predictions.columns
    anomalies = predictions.filter(F.col("prediction") == -1)
    inliers = (
        predictions.filter(F.col("prediction") != -1)
        .withColumn(_KEY, F.xxhash64(*columns))
        .orderBy(_KEY)
        .limit(max_inliers)
        .select(*columns)
    )

    sample = anomalies.unionByName(inliers).toPandas()
    logger.info("Collected %d rows from Spark for the plots", len(sample))
    return sample
