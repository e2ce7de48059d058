"""The package's shape: ``memopt/__init__.py`` only gathers the public names, each of which has
one home module of its own; the type hints are inline (``py.typed``), with a stub only for the
C++ module; a usage error is both a ``ValueError`` and a ``memopt.Error``."""

import ast
import importlib
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import memopt

PACKAGE = Path(memopt.__file__).resolve().parent
# What __init__.py may assign besides importing: the version and the list of public names.
_INIT_NAMES = {"__all__", "__version__", "__revision__"}


def test_init_only_imports_and_names_the_public_api():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    misplaced = []
    for index, node in enumerate(tree.body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            continue
        targets = ([node.target] if isinstance(node, ast.AnnAssign)
                   else node.targets if isinstance(node, ast.Assign) else [])
        if targets and all(isinstance(t, ast.Name) and t.id in _INIT_NAMES for t in targets):
            continue
        misplaced.append(f"line {node.lineno}: {ast.dump(node)[:80]}")
    assert not misplaced, "__init__.py should only re-export:\n" + "\n".join(misplaced)


def test_every_public_name_has_one_home_module_that_exports_it():
    assert len(memopt.__all__) == len(set(memopt.__all__))
    for name in memopt.__all__:
        obj = getattr(memopt, name)
        home = importlib.import_module(obj.__module__)
        assert obj.__module__.startswith("memopt."), (name, obj.__module__)
        if home is memopt._memopt:  # Error and UsageError: made by the C++ module where raised
            home = memopt.errors
        assert name in home.__all__, f"{name} is not in {home.__name__}.__all__"
        assert getattr(home, name) is obj


def test_every_module_exports_only_what_it_defines_and_the_package_gathers_it_all():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py")
                     if not p.stem.startswith("_"))
    exported = set()
    for stem in modules:
        module = importlib.import_module(f"memopt.{stem}")
        names = getattr(module, "__all__", None)
        assert names, f"memopt.{stem} has no __all__"
        for name in names:
            assert hasattr(module, name), f"memopt.{stem}.__all__ names a missing {name}"
        exported.update(names)
    # LeakSite is reached through LeakReport.sites, not re-exported (as before the split).
    assert exported - {"LeakSite"} == set(memopt.__all__)


def test_type_hints_are_inline_with_a_stub_only_for_the_cpp_module():
    assert (PACKAGE / "py.typed").is_file()
    assert sorted(p.name for p in PACKAGE.glob("*.pyi")) == ["_memopt.pyi"]


def _hinted(function, where):
    hints = typing.get_type_hints(function)  # also resolves every hint: a typo raises here
    parameters = [p for p in inspect.signature(function).parameters.values()
                  if p.name not in ("self", "cls")]
    missing = [p.name for p in parameters if p.name not in hints]
    missing += [] if "return" in hints else ["return"]
    return [f"{where}: {name}" for name in missing]


def test_every_public_function_and_method_is_annotated():
    missing = []
    for name in memopt.__all__:
        obj = getattr(memopt, name)
        if obj.__module__ == "memopt._memopt":
            continue  # typed by _memopt.pyi, checked by stubtest
        if inspect.isfunction(obj):
            missing += _hinted(obj, name)
        elif inspect.isclass(obj):
            for attribute, member in vars(obj).items():
                target = member.fget if isinstance(member, property) else member
                if inspect.isfunction(target) and (not attribute.startswith("_")
                                                   or attribute in ("__init__", "__enter__",
                                                                    "__exit__")):
                    missing += _hinted(target, f"{name}.{attribute}")
    assert not missing, f"without type hints: {missing}"


def test_mypy_strict_finds_nothing_in_the_package(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (Debian: python3-mypy)")
    # A copy: mypy reads the package's files, never the one this test imported from elsewhere.
    copy = tmp_path / "memopt"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", os.devnull, "memopt"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")})
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("text", ["abc", "", "5MM", "-1G"])
def test_a_size_that_does_not_parse_is_caught_as_a_value_error_and_as_a_memopt_error(text):
    try:
        memopt.parse_size(text)
    except ValueError as error:
        caught_as_value_error = error
    else:
        pytest.fail(f"parse_size({text!r}) did not raise")
    try:
        memopt.parse_size(text)
    except memopt.Error as error:
        caught_as_memopt_error = error
    assert type(caught_as_value_error) is memopt.UsageError
    assert str(caught_as_value_error) == str(caught_as_memopt_error)
    assert str(caught_as_value_error)  # says what is wrong, not an empty message


def test_usage_error_is_both_an_error_and_a_value_error_and_other_errors_are_not():
    assert issubclass(memopt.UsageError, memopt.Error)
    assert issubclass(memopt.UsageError, ValueError)
    assert not issubclass(memopt.Error, ValueError)
    assert memopt.errors.UsageError is memopt.UsageError
    assert memopt.errors.Error is memopt.Error
