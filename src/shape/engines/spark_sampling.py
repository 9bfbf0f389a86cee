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


def sample_for_plots(
    predictions: SparkDataFrame, max_inliers: int, max_anomalies: int | None = None
) -> pd.DataFrame:
    """Keeps at most ``max_inliers`` inliers and ``max_anomalies`` anomalies.

    Within each class the rows are ranked by a hash of their values
    (``xxhash64`` of every column) and the lowest are kept, so the sample is the
    same on every run and Spark only ever hands that many rows to the driver.

    Args:
        predictions: Spark frame of the scored readings: the reading columns,
            ``prediction`` (1 inlier, -1 anomaly) and ``anomaly_score``.
        max_inliers: Most inlier rows to keep; must be at least 0.
        max_anomalies: Most anomalous rows to keep (at least 0); None collects
            every anomaly, and the driver's memory then grows with them.

    Returns:
        A pandas frame with the columns of ``predictions``, in no set order (the
        plot nodes sort by time).
    """
    inliers = _lowest_hashes(predictions.filter(F.col("prediction") != -1), max_inliers)
    anomalies = predictions.filter(F.col("prediction") == -1)
    if max_anomalies is not None:
        anomalies = _lowest_hashes(anomalies, max_anomalies)

    sample = anomalies.unionByName(inliers).toPandas()
    logger.info("Collected %d rows from Spark for the plots", len(sample))
    return sample


def _lowest_hashes(rows: SparkDataFrame, limit: int) -> SparkDataFrame:
    columns = rows.columns
    return (
        rows.withColumn(_KEY, F.xxhash64(*columns))
        .orderBy(_KEY)
        .limit(limit)
        .select(*columns)
    )
