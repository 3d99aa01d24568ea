"""Package boundaries: the core never imports streamlit; light modules never import torch."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_every_module_of_meanflow_does_not_import_streamlit():
    code = (
        "import importlib, pkgutil, sys, meanflow\n"
        "for m in pkgutil.walk_packages(meanflow.__path__, 'meanflow.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print('streamlit' in sys.modules, 'ray' in sys.modules)"
    )
    assert _imports(code) == "False False"  # nor Ray: it loads only for a cluster


def test_figures_config_text_and_home_need_no_torch():
    """Pictures, configs, text helpers and what Home imports load without torch (Home paints before torch loads)."""
    code = (
        "import sys, meanflow.views.figures, meanflow.views.canvas, meanflow.views.demo, meanflow.views.palette, "
        "meanflow.core.config, meanflow.core.text, meanflow.core.paths, meanflow.engine.env, ui.server, ui.settings; "
        "print('torch' in sys.modules)"
    )
    assert _imports(code) == "False"


def test_no_module_of_the_core_mentions_streamlit():
    for path in (ROOT / "meanflow").rglob("*.py"):
        assert "import streamlit" not in path.read_text(), path


@pytest.mark.slow
def test_pip_install_gives_a_meanflow_command_and_the_bundled_runs(tmp_path):
    """`pip install .` (here: into a folder, without dependencies) installs the `meanflow` command,
    the same as `python -m meanflow`, and the bundled runs, which the installed package finds."""
    import os

    target = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    env = dict(os.environ, PYTHONPATH=str(target))
    where = subprocess.run(
        [sys.executable, "-c", "from meanflow.core.paths import pretrained_dir as p; print(p())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    bundled = Path(where.stdout.strip())
    assert bundled.is_relative_to(target) and (bundled / "meanflow-moons" / "weights.safetensors").is_file()
    command = subprocess.run(
        [str(target / "bin" / "meanflow"), "methods"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    module = subprocess.run(
        [sys.executable, "-m", "meanflow", "methods"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert command.returncode == 0 and command.stdout == module.stdout and "meanflow  (MeanFlow)" in command.stdout
