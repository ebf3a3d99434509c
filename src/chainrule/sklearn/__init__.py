"""scikit-learn estimators trained by chainrule: ``MLPClassifier`` and ``MLPRegressor``
(drop-in counterparts of scikit-learn's) and ``NeuralNetClassifier`` /
``NeuralNetRegressor``, which wrap any ``chainrule.nn.Module``.

They follow scikit-learn's estimator contract (``get_params``/``set_params``,
``clone``, pipelines, grid search, pickling) and pass its estimator checks; see
docs/sklearn.md. scikit-learn is an optional dependency: ``import chainrule`` never
imports it, and this module needs ``pip install chainrule[sklearn]``.
"""

try:
    from sklearn.utils.validation import validate_data  # noqa: F401  (1.6+)
except ImportError as error:  # not installed, or older than the API used here
    raise ImportError(
        "chainrule.sklearn needs scikit-learn >= 1.6; install it with "
        "`pip install chainrule[sklearn]` (or `pip install -U scikit-learn`)") from error

from chainrule.sklearn.checks import InvalidParameterError
from chainrule.sklearn.mlp import MLPClassifier, MLPRegressor
from chainrule.sklearn.wrappers import OPTIMIZERS, NeuralNetClassifier, NeuralNetRegressor

__all__ = ["OPTIMIZERS", "InvalidParameterError", "MLPClassifier", "MLPRegressor",
           "NeuralNetClassifier", "NeuralNetRegressor"]
