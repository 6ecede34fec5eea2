"""The README's Python API section runs as written: holders to a signed release, in a notebook's words."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_api_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section holds one walk-through"
    return blocks[0]


def test_the_readme_python_api_walks_the_whole_pipeline(capsys):
    namespace: dict = {}
    exec(compile(_python_api_block(), "README.md (Python API)", "exec"), namespace)
    assert namespace["quality"]["f1"] > 0.95
    assert namespace["manifest"]["verdict"] == "released"
    printed = capsys.readouterr().out
    assert "links; the model expects recall" in printed and "released" in printed


def test_every_public_name_is_what_it_says_even_after_every_submodule_is_imported():
    """A package attribute named like one of its submodules would be shadowed by the submodule once it is
    imported (``linkage.link`` the function vs ``linkage/link.py``): no public name may clash."""
    import importlib
    import pkgutil
    import types

    for package_name in ("linkage", "privacy", "privacy.release", "synth"):
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            importlib.import_module(module.name)
        for name in package.__all__:
            assert not isinstance(getattr(package, name), types.ModuleType), f"{package_name}.{name} is a module"
