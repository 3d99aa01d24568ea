"""`make run`: `streamlit run app.py` with the heavy imports warmed as the server starts.

    python -m ui.serve [streamlit options, e.g. --server.port 8502]

Streamlit runs app.py only when a browser connects, so on a plain `streamlit run app.py` the first
visitor's first page that needs torch (Train, Animate, ...) waits for torch, the samplers and scipy to
import (benchmarks/RESULTS.md, "Teaching"). This launcher starts those imports in a thread of the
server's process before the server opens, the "warm caches when the server starts" of a cold start; the pages are the
same either way. Home needs none of them (its demo is precomputed and drawn on a canvas).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from streamlit.web import cli

from ui.server import engine, import_heavy

APP = Path(__file__).resolve().parents[1] / "app.py"


def warm_up() -> None:
    """The imports, then the job engine and its worker processes (each importing torch, seconds on a small
    machine), so that the first Train click on a just-started server trains at once. A malformed MEANFLOW_*
    setting is left for the pages to report."""
    import_heavy()
    try:
        engine()
    except Exception as exc:  # the first page shows it (ui.server.open_session)
        print(f"meanflow: the engine did not start ahead of the first visitor: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
