"""The house rules, checked: the layer contracts (and that breaking one fails them), no import circles,
deferred imports of our own modules only with a reason, short functions, one place for each fact."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from meanflow.core import runs
from meanflow.engine import env

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("meanflow", "ui", "app_pages")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_FUNCTION_LINES = 60  # a function's code, its docstring not counted


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(cwd)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layer_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]


def test_an_upward_import_breaks_the_layer_contract_and_names_its_line(tmp_path):
    """A copy of the packages with core.config importing the engine: lint-imports fails and says where."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    config = tmp_path / "meanflow" / "core" / "config.py"
    config.write_text(config.read_text() + "\nfrom meanflow.engine import env as _upward  # noqa: E402\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1
    assert "meanflow.core is not allowed to import meanflow.engine" in result.stdout
    assert "meanflow.core.config -> meanflow.engine.env" in result.stdout


def test_no_module_takes_part_in_an_import_circle():
    """No cycle in the graph of our modules, parents and children included (annotation-only imports aside)."""
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    index, low, on_stack, stack, circles, counter = {}, {}, set(), [], [], [0]

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = counter[0]
        counter[0] += 1
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert not circles, circles


def _function_imports(path: Path):
    """(line number, that line and the few above it) of each import of our own modules inside a function."""
    source = path.read_text()
    lines = source.split("\n")
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom):
                own = inner.level > 0 or (inner.module or "").split(".")[0] in PACKAGES
            elif isinstance(inner, ast.Import):
                own = any(alias.name.split(".")[0] in PACKAGES for alias in inner.names)
            else:
                continue
            if own:
                yield inner.lineno, "\n".join(lines[max(0, inner.lineno - 7) : inner.lineno])


def test_an_import_of_our_own_code_inside_a_function_says_why_it_waits():
    """Only deliberate deferrals (Ray, torch after Home's first paint), each marked '# deferred: why'."""
    unexplained = [
        f"{path.relative_to(ROOT)}:{lineno}: {context.splitlines()[-1].strip()}"
        for path in _sources(*PACKAGES)
        for lineno, context in _function_imports(path)
        if "# deferred:" not in context
    ]
    assert not unexplained, unexplained


def _code_lines(node: ast.FunctionDef) -> int:
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_functions_stay_short():
    """No function longer than MAX_FUNCTION_LINES lines of code: long work is split into named steps."""
    long = []
    for path in _sources(*PACKAGES):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node) > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {_code_lines(node)} lines")
    assert not long, long


def test_only_the_env_module_reads_the_environment():
    """Every MEANFLOW_* variable is read in meanflow/engine/env.py and listed in its table and the README's."""
    readers = []
    for path in _sources(*PACKAGES):
        if path == ROOT / "meanflow" / "engine" / "env.py":
            continue
        text = path.read_text()
        if re.search(r"os\.environ\.get|os\.getenv|environ\[", text):
            readers.append(str(path.relative_to(ROOT)))
    assert not readers, readers
    mentioned = set()
    for path in _sources(*PACKAGES):
        mentioned |= set(re.findall(r"MEANFLOW_[A-Z_]+", path.read_text()))
    assert mentioned <= env.NAMES, mentioned - env.NAMES
    readme = (ROOT / "README.md").read_text()
    for v in env.VARIABLES:  # the README's table says what env.VARIABLES says
        assert f"| `{v.name}` | {v.default} | {v.meaning} |" in readme, f"{v.name}: the README's row differs"


@pytest.mark.parametrize(
    "name", [runs.CONFIG_FILE, runs.METRICS_FILE, runs.WEIGHTS_FILE, runs.TARGET_FILE, runs.CHECKPOINT_FILE]
)
def test_run_folder_file_names_are_spelled_out_only_in_the_runs_module(name):
    """(A download's file name for the user, `file_name="..."`, is no run-folder file.)"""
    spelled = [
        str(path.relative_to(ROOT))
        for path in _sources(*PACKAGES)
        if path != ROOT / "meanflow" / "core" / "runs.py"
        and re.search(rf'(?<!file_name=)"{re.escape(name)}"', path.read_text())
    ]
    assert not spelled, spelled
