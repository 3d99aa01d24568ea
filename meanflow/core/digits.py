"""The 8x8 handwritten digits: scikit-learn's bundled copy of UCI's optdigits test set, as a target.

1,797 images of 8 x 8 pixels, values 0 (paper) to 16 (ink), ten classes. Read from the file inside
the scikit-learn wheel (nothing is fetched); importing scikit-learn itself takes over a second, so
the file is read directly and scikit-learn's loader is only the fallback.

The split is fixed and documented: the first TRAIN_IMAGES images in the file's order train (their
writers differ from the rest's), the last 397 are held out, used only by the evaluator and its floors.
Model units: (pixel - 8) / 4, so every pixel lies in [-2, 2] like the 2D toys' box.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from .paths import assets_dir

IMAGE_SHAPE = (8, 8)  # (height, width); a point is its 64 pixels row by row, row 0 at the top
PIXEL_MAX = 16.0  # pixel values run 0 .. 16
TRAIN_IMAGES = 1400  # images 0 .. 1399 train; 1400 .. 1796 are held out
DEQUANTISE = 1.0  # each training draw spreads its whole-number pixels uniformly over +-0.5 (data units)
CENTRE, SCALE = PIXEL_MAX / 2, PIXEL_MAX / 4  # model = (pixel - 8) / 4: [0, 16] -> [-2, 2]
CLASS_NAMES = tuple(str(k) for k in range(10))
# The network that trained best per CPU second at D = 64 (benchmarks/digits_bench.py network; RESULTS.md).
TRAIN_DEFAULTS = (("hidden", 256), ("depth", 3))


def _bundled_file() -> Path | None:
    """scikit-learn's digits.csv.gz, found without importing scikit-learn (None when not installed)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    return path if path.is_file() else None


@functools.cache
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 images (1797, 64) float32 in pixel values 0 .. 16, and their digits (1797,) int64."""
    path = _bundled_file()
    if path is not None:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32)
        images, labels = table[:, :-1], table[:, -1].astype(np.int64)
    else:
        try:
            from sklearn.datasets import load_digits  # deferred: a 1.3 s import, only if the file moved
        except ImportError:
            raise RuntimeError("the digits target needs scikit-learn (pip install scikit-learn)") from None
        bunch = load_digits()
        images, labels = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    if images.shape != (1797, 64):
        raise RuntimeError(f"scikit-learn's digits file holds {images.shape}, not the 1,797 8x8 images expected")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def train_split() -> tuple[np.ndarray, np.ndarray]:
    """The 1,400 training images (1400, 64) in pixel values, and their digits (1400,)."""
    images, labels = digits_arrays()
    return images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]


def held_out_split() -> tuple[np.ndarray, np.ndarray]:
    """The 397 held-out images (397, 64) in pixel values, and their digits (397,): the evaluator's alone."""
    images, labels = digits_arrays()
    return images[TRAIN_IMAGES:], labels[TRAIN_IMAGES:]


@functools.cache
def _train_model_units() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = train_split()
    return torch.as_tensor((images - CENTRE) / SCALE, dtype=torch.float32), torch.tensor(labels)


def sample_labelled(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n training images drawn uniformly (with replacement), dequantised, in model units (n, 64), and
    their digits (n,)."""
    images, labels = _train_model_units()
    idx = torch.randint(0, len(images), (n,), generator=g)
    noise = (torch.rand(n, images.shape[1], generator=g) - 0.5) * (DEQUANTISE / SCALE)
    return images[idx] + noise, labels[idx]


# ---------------------------------------------------------------- the bundled classifier

CLASSIFIER_FILE = "classifier.safetensors"  # in assets/digits/, made by assets/make_digits_classifier.py
CLASSIFIER_WIDTHS = (64, 128, 64, 10)  # pixels -> hidden -> features -> the ten digits' logits
CONFIDENT = 0.9  # a sample counts as a recognisable digit when the classifier gives one digit this much


class DigitClassifier(torch.nn.Module):
    """A small MLP on model-unit pixels (B, 64): `features` (B, 64) are its last hidden layer (what the
    Fréchet distance compares), `forward` the ten logits (B, 10)."""

    def __init__(self):
        super().__init__()
        a, b, c, d = CLASSIFIER_WIDTHS
        layers = [torch.nn.Linear(a, b), torch.nn.SiLU(), torch.nn.Linear(b, c), torch.nn.SiLU()]
        self.hidden = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(c, d)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x))


def classifier_path() -> Path:
    return assets_dir() / "digits" / CLASSIFIER_FILE


@functools.cache
def classifier() -> DigitClassifier:
    """The bundled classifier, in eval mode, without gradients; RuntimeError when its file is missing."""
    from safetensors.torch import load_file

    path = classifier_path()
    if not path.is_file():
        raise RuntimeError(f"the digits classifier {path} is missing: python assets/make_digits_classifier.py makes it")
    net = DigitClassifier()
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)


@torch.no_grad()
def classify(pixels: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (n, 10) and features (n, 64) of images (n, 64) in pixel values (0 .. 16)."""
    x = (torch.tensor(np.asarray(pixels), dtype=torch.float32) - CENTRE) / SCALE
    x = torch.nan_to_num(x, nan=0.0, posinf=1e3, neginf=-1e3)
    net = classifier()
    features = net.features(x)
    return torch.softmax(net.head(features), dim=1).numpy(), features.numpy()
