"""Equal tuning with the state's Fourier features among the shared settings (RESULTS.md, "Tuning with
the state's features"):

    python benchmarks/tune_state_features.py --method M --out build/tuning-v3   (for each method)

`python -m meanflow tune` with one more setting every method may choose, `space_frequencies` 0 (z
alone, the bundled protocol's) or 3; everything else is the bundled protocol (lab.tuning). The bundled
presets are not touched: the presets file goes to --out (`train --preset DIR/tuned.json`; score the
comparison's cells at it with `lever_bench.py --presets DIR/tuned.json`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meanflow.cli import main
from meanflow.core.config import Search
from meanflow.lab import tuning

STATE_FEATURES = Search(values=(0, 3))  # z alone, or 3 frequencies (the lever swept in RESULTS.md)


def with_state_features() -> None:
    """Every method's search space gains `space_frequencies` (lab.tuning.search_space reads SHARED_SEARCH)."""
    tuning.SHARED_SEARCH["space_frequencies"] = STATE_FEATURES


if __name__ == "__main__":
    with_state_features()
    sys.exit(main(["tune", *sys.argv[1:]]))
