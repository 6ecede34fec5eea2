"""Public names of a package, imported on first use (PEP 562).

Each package's ``__init__`` names what users import, so a notebook reads
``from linkage import link`` and ``help(linkage)`` lists the surface; importing the
package stays cheap (``harmonie --help`` must not load numba, SDV or Anonymeter).
"""

from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str]):
    """``(__all__, __getattr__, __dir__)`` for a package whose public ``name`` lives in ``exports[name]``."""
    namespace = import_module(package).__dict__

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(exports[name]), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return sorted(exports), __getattr__, __dir__
