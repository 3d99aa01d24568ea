"""Where the shipped data is: assets/ in a checkout, or the package's own copy once installed.

`pip install .` puts assets/ (the bundled pretrained runs and precomputed tables) into the wheel
as the `meanflow.assets` package (see pyproject.toml), so an installed `meanflow` finds them too.
"""

from __future__ import annotations

from importlib import util
from pathlib import Path

# The targets whose runs ship in assets/pretrained (seed 0 of each method; `make assets`): Home's targets, the
# first targets a page opens on, and the methods study's bundled runs.
BUNDLED_TARGETS = ("checkerboard", "moons", "spiral")


def assets_dir() -> Path:
    """The assets folder: the installed meanflow.assets package if there is one, else the checkout's."""
    spec = util.find_spec("meanflow.assets")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "assets"


def pretrained_dir() -> Path:
    """The bundled pretrained runs (assets/pretrained)."""
    return assets_dir() / "pretrained"


def study_runs_dir() -> Path:
    """Seed 0 of each ablation cell (assets/studies/runs), opened from the Ablations page's bundled tables."""
    return assets_dir() / "studies" / "runs"
