"""A Quality on a page: each metric that applies to its target beside its floor, in one place for every page."""

from __future__ import annotations

import streamlit as st

from meanflow.core.metrics import Quality, floor_name

# metric -> (label, help, shown as a share)
LABELS = {
    "sliced_w1": ("Sliced W1 (global)", "sliced Wasserstein-1 to the reference, in model units", False),
    "hist_tv": ("Histogram TV (local)", "total variation between 2D histograms", False),
    "in_support": ("In cells", "share of samples inside the target's support", True),
    "fd": ("FD", "Fréchet distance in the digit classifier's features, to the 397 held-out images", False),
    "confident": ("Recognised", "share the classifier reads as one digit with probability >= 0.9", True),
    "coverage_tv": ("Coverage TV", "TV of the recognised digits against the ten classes' frequencies", False),
    "memorised": ("Memorised", "share closer to a training image than 90% of training images are to theirs", True),
}


def _value(metric: str, value: float) -> str:
    return f"{value:.0%}" if LABELS[metric][2] else f"{value:.3f}"


def show_metrics(q: Quality, where=None) -> None:
    """One st.metric per metric that applies to q's target, its floor (or for memorisation the held-out
    images' share) in its help, wrapping on a narrow page."""
    row = (where or st).container(horizontal=True, gap="medium")
    for metric, value in q.applicable().items():
        if metric not in LABELS:
            continue
        label, about, _ = LABELS[metric]
        beside = getattr(q, floor_name(metric))
        floor = "held-out images" if metric == "memorised" else "noise floor"
        hint = f"{about}; {floor} {_value(metric, beside)} at n = {q.n:,}" if beside is not None else about
        row.metric(label, _value(metric, value), help=hint, width="content")


def floors_sentence(q: Quality) -> str:
    """'floors at n = 1,000: W1 0.067, TV 0.180' (the metrics that apply)."""
    short = {"sliced_w1": "W1", "hist_tv": "TV", "fd": "FD", "confident": "recognised", "coverage_tv": "coverage"}
    parts = [
        f"{name} {_value(m, getattr(q, floor_name(m)))}"
        for m, name in short.items()
        if getattr(q, m) is not None and getattr(q, floor_name(m)) is not None
    ]
    return f"floors at n = {q.n:,}: " + ", ".join(parts)


def headline_sentence(q: Quality, metric: str) -> str:
    """'TV 0.123, floor 0.050; W1 0.030, floor 0.010' for the headline metric and sliced W1."""
    name = {"hist_tv": "TV", "fd": "FD", "sliced_w1": "W1"}[metric]
    text = f"{name} {getattr(q, metric):.3f}, floor {getattr(q, floor_name(metric)):.3f}"
    if metric != "sliced_w1":
        text += f"; W1 {q.sliced_w1:.3f}, floor {q.sliced_w1_floor:.3f}"
    return text
