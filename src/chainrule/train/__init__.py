"""Training: ``fit`` (mini-batch gradient descent with stopping rules), ``evaluate``,
``predict``, callbacks, the ``History`` and classification metrics."""

from chainrule.train.callbacks import (
    Callback,
    ConvergenceStop,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    Plateau,
)
from chainrule.train.fit import TrainingDiverged, TrainingState, evaluate, fit, predict
from chainrule.train.history import History
from chainrule.train.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    precision_recall,
)
from chainrule.train.progress import Progress

__all__ = [
    "Callback", "ConvergenceStop", "EarlyStopping", "History", "LambdaCallback",
    "ModelCheckpoint", "Plateau", "Progress", "TrainingDiverged", "TrainingState", "accuracy",
    "classification_report", "confusion_matrix", "evaluate", "fit", "precision_recall",
    "predict",
]
