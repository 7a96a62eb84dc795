"""Student-facing helpers for the deep-learning foundations labs.

``import course_utils`` is fast and needs neither PyTorch nor TensorFlow:
only `set_seed` (numpy) is loaded eagerly; the submodules `checks` (with
`frameworks` and `hidden`, the machinery of hidden tests), `data`,
`devices`, `plotting` (matplotlib, with its `style`), `selfcheck` (the
"will this notebook grade?" cell, with `saved_notebook`) and `widgets`
(ipywidgets) load on first use, e.g.
``course_utils.devices.print_report()``.
"""
from __future__ import annotations

import importlib

from course_utils.seed import set_seed

__all__ = ["set_seed", "checks", "data", "devices", "frameworks", "hidden", "plotting", "saved_notebook", "seed",
           "selfcheck", "style", "widgets"]
__version__ = "0.1.0"

_SUBMODULES = {"checks", "data", "devices", "frameworks", "hidden", "plotting", "saved_notebook", "seed", "selfcheck",
               "style", "widgets"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES)
