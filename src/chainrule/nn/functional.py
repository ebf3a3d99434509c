"""``chainrule.nn.functional``: the same functions as ``chainrule.functional``, under the path
PyTorch users reach for (``import chainrule.nn.functional as F``)."""

from chainrule.functional import *  # noqa: F403
from chainrule.functional import __all__  # noqa: F401
