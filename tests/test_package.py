"""Package boundaries."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_importing_meanflow_does_not_import_streamlit():
    code = "import sys, meanflow, meanflow.cli, meanflow.bench; print('streamlit' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_no_module_of_the_core_mentions_streamlit():
    for path in (ROOT / "meanflow").glob("*.py"):
        assert "import streamlit" not in path.read_text(), path
