"""Bytecode in the deployment zip, so that a new Lambda container does not compile what its first event imports.

Lambda's task root is read-only: a module shipped as source is compiled again by every new container, which cost
the API's first event about five times an ``import boto3`` (bench figure 5). The packager therefore adds compiled
code for every module the app imports: app.py, every handler it names, and every import in ``chalicelib`` (some
sit inside the function that needs them):

- the app's own code (``app.py``, ``chalicelib/``, chalice's two modules) keeps its source, so tracebacks show
  the lines, with an unchecked-hash ``__pycache__/<name>.cpython-313.pyc`` beside it (PEP 552: used without
  looking at the source's time stamp, which a zip does not keep);
- a dependency's module is shipped as its bytecode alone (``<name>.pyc`` where ``<name>.py`` was, which Python
  imports without a source), because bytecode zips to about twice the size of its source and the zip's 5 MB
  target holds only one of the two. Their tracebacks name the file and line, without the line's text.

Modules the app never imports stay as they were. The zip also drops the parts of dependencies the app never loads
(``UNUSED_FILES``), and is compressed at zlib's highest level.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import marshal
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# The zip's own code: shipped as source with its bytecode beside it.
OWN_CODE = ("app.py", "chalicelib/*", "chalice/*")
# Parts of dependencies this app never loads: powertools' Swagger UI script and style sheet (served only by its own
# HTTP router; this app routes with Chalice) and pydantic's copy of its version 1 (loaded only for a type written
# the version-1 way, with ``__get_validators__``, which none of this app's models use: the packaging test builds
# every model from the zip).
UNUSED_FILES = (
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/*.js",
    "aws_lambda_powertools/event_handler/openapi/swagger_ui/*.css",
    "pydantic/v1/*",
)
RUNTIME_PYTHON = (3, 13)
LEVEL = 9  # zlib's highest: the zip's size has a target, its build time none

# Imports app.py, every handler it names and every module the app's code imports anywhere (some imports sit inside
# the function that needs them), in a fresh interpreter of the packaging environment (the same pinned versions as
# the zip), and lists the files of the modules that were loaded.
_DISCOVER = r"""
import ast, importlib, importlib.util, json, pathlib, sys
root, handlers = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, root)
import app
for name in handlers:
    importlib.import_module("chalicelib.handlers." + name)
for path in sorted(pathlib.Path(root, "chalicelib").rglob("*.py")):
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_bytes())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            # ``from package import module`` imports the module too (a name that is no module is skipped below).
            names = [base, *(base + "." + a.name for a in node.names if a.name != "*")]
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError:
                pass  # a module this environment lacks is not in the zip either
print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})))
"""


class BytecodeFailed(RuntimeError):
    """The zip's bytecode could not be made (wrong Python, a module that does not import)."""


@dataclass(frozen=True)
class BytecodeReport:
    """What the zip's rewrite did."""

    beside_source: int
    instead_of_source: int
    dropped: int

    def summary(self) -> dict:
        """The counts, for the packager's report."""
        return {
            "bytecode_beside_source": self.beside_source,
            "bytecode_instead_of_source": self.instead_of_source,
            "dropped_unused_files": self.dropped,
        }


def named_handlers(app_py: Path) -> list[str]:
    """The handler modules ``app.py`` loads by name (``_handler("<module>")``)."""
    found = {
        node.args[0].value
        for node in ast.walk(ast.parse(app_py.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_handler"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    return sorted(found)


def imported_modules(root: Path, search_path: list[Path]) -> frozenset[str]:
    """The zip paths (``pydantic/main.py``) of the modules the app imports: app.py, every handler it names and
    every import in ``chalicelib``, with what they import in turn.

    ``search_path`` lists where the packaging environment's dependencies live; a loaded file under ``root`` or
    one of them is named relative to it."""
    command = [sys.executable, "-I", "-c", _DISCOVER, str(root), json.dumps(named_handlers(root / "app.py"))]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BytecodeFailed(f"importing the handlers failed: {done.stderr[-2000:]}")
    bases = [root, *search_path]
    found = set()
    for file in json.loads(done.stdout):
        path = Path(file)
        if path.suffix != ".py":
            continue
        for base in bases:
            if path.is_relative_to(base):
                found.add(path.relative_to(base).as_posix())
                break
    return frozenset(found)


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            if not _is_docstring(node.body[0]):
                continue
            # Removed where more follows (a module's ``from __future__`` must stay first), else made a ``pass``.
            if len(node.body) > 1:
                del node.body[0]
            else:
                node.body[0] = ast.copy_location(ast.Pass(), node.body[0])
    return tree


def bytecode(source: bytes, name: str, *, docstrings: bool = True) -> bytes:
    """A ``.pyc`` of ``source`` for this Python with an unchecked hash (PEP 552): the interpreter takes it as it is,
    whatever time stamp the unpacked source has. Without ``docstrings`` the code keeps its behaviour and lines."""
    tree = ast.parse(source, name)
    code = compile(tree if docstrings else _without_docstrings(tree), name, "exec", dont_inherit=True)
    flags = 0b01  # hash-based, not checked against the source
    header = importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little") + importlib.util.source_hash(source)
    return header + marshal.dumps(code)


def _cached_name(name: str) -> str:
    path = PurePosixPath(name)
    return str(path.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.pyc").removeprefix("./")


def _entry(like: zipfile.ZipInfo, name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=like.date_time)
    info.external_attr, info.compress_type = like.external_attr, zipfile.ZIP_DEFLATED
    return info


def add_bytecode(zip_path: Path, modules: frozenset[str]) -> BytecodeReport:
    """Rewrite ``zip_path`` with the bytecode of ``modules`` (zip paths) and without the unused files."""
    if sys.version_info[:2] != RUNTIME_PYTHON:
        raise BytecodeFailed(f"bytecode for python{'.'.join(map(str, RUNTIME_PYTHON))} needs that Python to build it")
    beside = instead = dropped = 0
    rewritten = zip_path.with_suffix(".rewrite")
    with (
        zipfile.ZipFile(zip_path) as old,
        zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as new,
    ):
        for info in old.infolist():
            name = info.filename
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in UNUSED_FILES):
                dropped += 1
                continue
            data = old.read(info)
            if name not in modules:
                new.writestr(info, data, compresslevel=LEVEL)
            elif any(fnmatch.fnmatchcase(name, pattern) for pattern in OWN_CODE):
                new.writestr(info, data, compresslevel=LEVEL)
                new.writestr(_entry(info, _cached_name(name)), bytecode(data, name), compresslevel=LEVEL)
                beside += 1
            else:
                new.writestr(_entry(info, name + "c"), bytecode(data, name, docstrings=False), compresslevel=LEVEL)
                instead += 1
    shutil.move(rewritten, zip_path)
    return BytecodeReport(beside_source=beside, instead_of_source=instead, dropped=dropped)
