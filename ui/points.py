"""Points of any dimension on a page: 2D as a scatter, images (the digits) as a grid of pictures, other
dimensions as a scatter on the data's first two principal axes."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from meanflow.core.targets import Target
from meanflow.views import figures
from meanflow.views.geometry import principal_axes, project
from meanflow.views.images import image_grid, png_bytes

from . import present

PER_CLASS = 10  # real images of each class in a target's picture


def target_preview(target: Target, n: int = 2000) -> np.ndarray:
    """(n, 2) exact samples for a picture, the same on every rerun."""
    return target.sample(n, torch.Generator().manual_seed(0)).numpy()


def is_image(target: Target | None) -> bool:
    return target is not None and target.image_shape is not None


@st.cache_data(show_spinner=False, max_entries=32)
def _png(points: np.ndarray, shape: tuple[int, int], value_range: tuple[float, float], columns: int) -> bytes:
    return png_bytes(image_grid(points, shape, value_range, columns=columns, scale=6))


def show_images(points: np.ndarray, target: Target, caption: str, columns: int = 10, where=None) -> None:
    """(n, D) points of an image target as one picture of n small images, `columns` to a row."""
    (where or st).image(_png(np.asarray(points), target.image_shape, target.value_range, columns), caption=caption)


@st.cache_resource(show_spinner=False, max_entries=16)
def axes_of(_target: Target, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The target's first two principal axes (views.geometry.principal_axes of 4,000 exact points, data units)."""
    return principal_axes(_target.sample(4000, torch.Generator().manual_seed(0)).numpy())


def flat(points: np.ndarray, target: Target, key: str) -> np.ndarray:
    """(..., D) points as (..., 2): themselves in 2D, else on the target's principal axes."""
    return points if target.dim == 2 else project(points, axes_of(target, key))


def real_images(target: Target, per_class: int = PER_CLASS) -> np.ndarray:
    """(k, D) exact images in data units, per_class of each class in class order (or 10 x per_class unlabelled)."""
    g = torch.Generator().manual_seed(0)
    if not target.classes:
        return target.sample(10 * per_class, g).numpy()
    x, y = target.sample_labelled(40 * per_class * target.classes, g)
    rows = [x[y == k][:per_class] for k in range(target.classes)]
    return target.normaliser.to_data(torch.cat(rows)).numpy()


def show_target(target: Target) -> None:
    """The target as a picture: a scatter plot coloured by class when it has classes (beyond 2D on its
    first two principal axes), real images for an image target."""
    if is_image(target):
        show_images(
            real_images(target),
            target,
            f"{target.name}: real images, {PER_CLASS} of each class (training images; a held-out part scores samples)",
        )
        return
    x, y = target.sample_labelled(2000, torch.Generator().manual_seed(0)) if target.classes else (None, None)
    if x is None:
        points = target.sample(2000, torch.Generator().manual_seed(0)).numpy()
    else:
        points = target.normaliser.to_data(x).numpy()
    by_class = y is not None and st.toggle(
        "Colour by class", value=True, help="Each class of this labelled target in its own colour."
    )
    title = f"target: {target.name}" + (f" ({target.classes} classes)" if target.classes else "")
    if target.dim != 2:
        title += f", {target.dim} dimensions on their first two principal axes"
    present.chart(
        figures.scatter_figure(
            flat(points, target, target.name if target.is_preset else f"{target.name}@{id(target)}"),
            title,
            height=360,
            labels=y.numpy() if by_class else None,
            class_names=target.class_names,
        ),
        key="target_preview",
        width="stretch",
    )
