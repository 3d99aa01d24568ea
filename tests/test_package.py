"""Package boundaries: the core never imports streamlit; light modules never import torch."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_meanflow_does_not_import_streamlit():
    code = "import sys, meanflow, meanflow.cli, meanflow.bench, meanflow.jobs; print('streamlit' in sys.modules)"
    assert _imports(code) == "False"


def test_figures_config_and_text_need_no_torch():
    """Pictures, configs and text helpers load without torch (the Home page paints before torch loads)."""
    code = "import sys, meanflow.figures, meanflow.config, meanflow.text; print('torch' in sys.modules)"
    assert _imports(code) == "False"


def test_no_module_of_the_core_mentions_streamlit():
    for path in (ROOT / "meanflow").rglob("*.py"):
        assert "import streamlit" not in path.read_text(), path
