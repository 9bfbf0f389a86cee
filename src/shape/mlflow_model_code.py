"""The file MLflow runs to build ``AnomalyScoringModel`` when the model loads.

MLflow's "models from code": the logged model keeps this file instead of a
pickle of the model object, and runs it at load time (the ``shape`` package
travels with the model as its code). Importing it anywhere else only records
the object for MLflow; it does nothing on its own.
"""

from mlflow.models import set_model

from shape.mlflow_model import AnomalyScoringModel

set_model(AnomalyScoringModel())
