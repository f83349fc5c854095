"""The zip's bytecode (deploy/bytecode.py): used as it is whatever the unpacked source's time stamp, and a
dependency's bytecode without docstrings behaves and reports lines as its source does."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

import pytest

from deploy.bytecode import bytecode, named_handlers

SOURCE = b'''"""A module docstring."""
from __future__ import annotations


class Greeter:
    """A class docstring."""

    def hello(self, name: str) -> str:
        """A method docstring."""
        return f"hello {name}"


def only_a_docstring():
    """Nothing else here."""


def fails():
    raise ValueError("line 18")
'''


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bytecode_beside_its_source_is_used_whatever_the_sources_time_stamp(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    source = tmp_path / "shipped.py"
    source.write_bytes(SOURCE)
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.parent.mkdir()
    cached.write_bytes(bytecode(SOURCE, "shipped.py"))
    # A zip keeps no precise time stamp: the unpacked source looks newer than anything compiled from it.
    source.write_bytes(SOURCE.replace(b"hello {name}", b"HELLO {name}"))
    module = _load(source, "shipped")
    assert module.Greeter().hello("x") == "hello x"  # the bytecode ran, not the (changed) source
    assert module.Greeter.__doc__ == "A class docstring."


def test_a_dependencys_bytecode_without_docstrings_keeps_its_behaviour_and_lines(tmp_path):
    compiled = tmp_path / "dependency.pyc"
    compiled.write_bytes(bytecode(SOURCE, "dependency.py", docstrings=False))
    module = _load(compiled, "dependency")
    assert module.Greeter().hello("y") == "hello y" and module.only_a_docstring() is None
    assert module.__doc__ is None and module.Greeter.__doc__ is None and module.Greeter.hello.__doc__ is None
    with pytest.raises(ValueError) as raised:
        module.fails()
    assert traceback.extract_tb(raised.value.__traceback__)[-1].lineno == 18


def test_the_handlers_app_py_names_are_found(tmp_path):
    app = tmp_path / "app.py"
    app.write_text('def a():\n    return _handler("webhooks").push()\n\nx = _handler("worker")\n_handler(name)\n')
    assert named_handlers(app) == ["webhooks", "worker"]
