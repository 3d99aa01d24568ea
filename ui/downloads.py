"""Download buttons: a run's config and folder, samples as CSV, figures as HTML. Built only when clicked."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import streamlit as st

from meanflow.core.runs import CONFIG_FILE
from meanflow.core.text import literal, steps_label

from .session import RunEntry


def run_zip(folder: Path) -> bytes:
    """A run folder as a zip archive (its plain files; checkpoints included)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            if f.is_file() and not f.name.startswith("."):
                zf.write(f, arcname=f"{folder.name}/{f.name}")
    return buf.getvalue()


def samples_file_name(run_label: str, steps: int) -> str:
    """'samples_meanflow-checkerboard_1-step.csv': a panel's samples named by its run and step count (two
    panels' files both read samples.csv)."""
    return f"samples_{literal(run_label, 'filename')}_{literal(steps_label(steps), 'filename')}.csv"


def run_downloads(entry: RunEntry) -> None:
    """Config (JSON) and, once the run has weights, the whole run folder (zip)."""
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button(
        "Config (JSON)",
        json.dumps(entry.config.to_dict(), indent=2),
        file_name=CONFIG_FILE,
        mime="application/json",
        key=f"config_{entry.key}",
        on_click="ignore",
    )
    folder = entry.info.path
    if entry.usable:
        c2.download_button(
            "Run folder (zip)",
            lambda: run_zip(folder),
            file_name=f"{literal(folder.name, 'filename')}.zip",
            mime="application/zip",
            key=f"zip_{entry.key}",
            on_click="ignore",
        )


def figure_html(fig, name: str, key: str) -> None:
    """A button that downloads `fig` as a self-contained HTML file (works offline).

    The HTML (several MB with plotly.js inside) is built only when clicked, not on every rerun.
    """
    st.download_button(
        "Figure (HTML)",
        lambda: fig.to_html(include_plotlyjs=True, full_html=True),
        file_name=f"{literal(name, 'filename')}.html",
        mime="text/html",
        key=key,
        on_click="ignore",
    )
