"""The Python client of python/chrys for the tests and the bench, as the
module chrys_client: in t/ the name chrys is the test plumbing
(t/chrys.py), so the package is loaded from its directory under another
name (its modules import each other relatively, which allows that)."""

import importlib.util
import os
import sys

from chrys import TOP

PACKAGE = os.path.join(TOP, "python", "chrys")
PYTHONPATH = os.path.join(TOP, "python")


def load():
    if "chrys_client" in sys.modules:
        return sys.modules["chrys_client"]
    spec = importlib.util.spec_from_file_location(
        "chrys_client", os.path.join(PACKAGE, "__init__.py"),
        submodule_search_locations=[PACKAGE])
    module = importlib.util.module_from_spec(spec)
    sys.modules["chrys_client"] = module
    spec.loader.exec_module(module)
    return module


client = load()
