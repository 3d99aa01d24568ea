"""Targets: every preset's shape and seeding, the seed definitions, and data-driven targets."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from meanflow.core.targets import (
    ALIASES,
    MAX_SHAPES,
    PRESETS,
    TargetError,
    decode_shapes,
    drawn_target,
    encode_shapes,
    get_target,
    parse_csv_points,
    target_from_bytes,
    target_from_file,
    text_target,
)


@pytest.mark.parametrize("name", list(PRESETS) + list(ALIASES))
def test_every_target_gives_n_by_d_and_same_seed_same_samples(name):
    """Shape (n, D) (D = 2 but for the 64-pixel digits), finite, and identical for the same seed; different
    for another seed."""
    target = get_target(name)
    a = target.sample(500, torch.Generator().manual_seed(0))
    b = target.sample(500, torch.Generator().manual_seed(0))
    c = target.sample(500, torch.Generator().manual_seed(1))
    assert target.dim == (64 if name == "digits" else 2) and target.normaliser.dim == target.dim
    assert a.shape == (500, target.dim) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_checkerboard_fills_exactly_the_even_cells():
    """Every sample lies in a cell with i + j even, and all 8 such cells are used about equally."""
    target = get_target("checkerboard")
    x = target.sample(40000, torch.Generator().manual_seed(2))
    assert bool(target.in_support(x).all())
    cells = torch.floor(x).long() + 2  # (n, 2) cell indices 0..3
    counts = torch.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16).reshape(4, 4)
    even = (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2 == 0
    assert counts[~even].sum() == 0
    assert counts[even].min() > 0.8 * 40000 / 8


def test_moons_and_spiral_follow_the_seed_definitions():
    """Moons: centred at (0, 0.3) with x-range about [-3, 3]; spiral: point-symmetric, radius up to ~pi."""
    g = torch.Generator().manual_seed(3)
    moons = get_target("crescent").sample(50000, g)
    np.testing.assert_allclose(moons.mean(0).numpy(), [0.0, 0.3], atol=0.03)
    assert -4.2 < float(moons[:, 0].min()) < -2.8 and 2.8 < float(moons[:, 0].max()) < 4.2
    spiral = get_target("spiral").sample(50000, g)
    np.testing.assert_allclose(spiral.mean(0).numpy(), [0.0, 0.0], atol=0.05)
    assert 3.0 < float(spiral.norm(dim=1).max()) < 4.0


def test_unknown_target_lists_the_accepted_names():
    with pytest.raises(TargetError, match="accepted: checkerboard, moons"):
        get_target("banana")


def test_csv_target_trains_in_the_box_and_samples_in_metres():
    """A CSV in metres is normalised into [-2, 2] for training and sampled back in metres."""
    g = torch.Generator().manual_seed(4)
    pts = np.random.default_rng(0).normal([500.0, 2000.0], [30.0, 10.0], size=(3000, 2))
    data = ("east_m,north_m\n" + "\n".join(f"{x},{y}" for x, y in pts)).encode()
    target = target_from_bytes("survey.csv", data)
    model = target.sample_model(5000, g)
    assert float(model.abs().max()) <= 2.0 + 1e-5 and float(model.abs().max()) > 1.5
    samples = target.sample(5000, g).numpy()
    np.testing.assert_allclose(samples.mean(0), [500.0, 2000.0], atol=3.0)
    np.testing.assert_allclose(target.normaliser.to_data(target.normaliser.to_model(pts)), pts)


def test_csv_without_header_and_with_semicolons():
    pts = parse_csv_points(b"1;2\n3;4\n5;6\n")
    np.testing.assert_array_equal(pts, [[1, 2], [3, 4], [5, 6]])


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"a,b\nx,y\n", "not numeric"),
        (b"x\n1\n2\n", "1 column"),
        (b"x,y\n" + b"1,nan\n" * 30, "NaN or infinite"),
        (b"x,y\n" + b"1,2\n" * 5, "at least 20"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
    ],
)
def test_bad_csv_files_say_what_is_wrong(data, message):
    with pytest.raises(TargetError, match=message):
        target_from_bytes("upload.csv", data)


def test_image_target_puts_mass_on_dark_pixels():
    """Dark pixels give the density, upright: a black square in the top-left gives samples there."""
    img = Image.new("L", (64, 64), 255)
    img.paste(0, (0, 0, 16, 16))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    target = target_from_bytes("square.png", buf.getvalue())
    x = target.sample(2000, torch.Generator().manual_seed(5)).numpy()
    assert (x[:, 0] <= 16.01).all() and (x[:, 1] >= 47.99).all()


def test_not_an_image_is_refused():
    with pytest.raises(TargetError, match="not a readable image"):
        target_from_bytes("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)


def test_an_image_over_the_pixel_limit_is_one_error_and_no_warning():
    """A 6400 x 6400 PNG printed PIL's two-line DecompressionBombWarning above the one-line error."""
    import warnings

    buf = io.BytesIO()
    Image.new("L", (6400, 6400), 255).save(buf, format="PNG")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TargetError, match="6400x6400 pixels; the limit"):
            target_from_bytes("big.png", buf.getvalue())
    assert not caught, [str(w.message) for w in caught]


def test_text_target_and_missing_file():
    x = text_target("Hi").sample(100, torch.Generator().manual_seed(6))
    assert x.shape == (100, 2)
    assert text_target("a?b &c<~").sample(10, torch.Generator()).shape == (10, 2)  # punctuation has letters
    with pytest.raises(TargetError, match="no letter for é 日"):  # would be drawn as the font's empty box
        text_target("café 日")
    with pytest.raises(TargetError, match="not found"):
        target_from_file("/nonexistent/points.csv")


def test_a_drawing_round_trips_through_its_url_code_and_paints_its_density():
    square = np.array([[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]])
    triangle = np.array([[0.6, 0.6], [0.9, 0.6], [0.75, 0.95]])
    lasso = np.stack([0.5 + 0.2 * np.cos(np.linspace(0, 6.2, 500)), 0.5 + 0.2 * np.sin(np.linspace(0, 6.2, 500))], 1)
    code = encode_shapes([(5, square), (2, triangle), (1, lasso)])
    assert len(code) < 200  # a 500-vertex lasso is thinned: the link stays short
    shapes = decode_shapes(code)
    assert [level for level, _ in shapes] == [5, 2, 1]
    np.testing.assert_allclose(shapes[0][1], square, atol=1 / 63)
    target = drawn_target(shapes[:2])
    x = target.sample(20_000, torch.Generator().manual_seed(0)).numpy() / 96  # canvas pixels -> unit square
    in_triangle = (x[:, 0] > 0.55) & (x[:, 1] > 0.55)
    # mass = area x level: square 0.09 x 5 against triangle 0.0525 x 2
    assert abs(in_triangle.mean() - 0.105 / (0.45 + 0.105)) < 0.03
    for bad in ("", "9AAAAAA", "5AAA", "5AA!AAA", ".".join(["5AAAAAA"] * (MAX_SHAPES + 1))):
        with pytest.raises(TargetError):
            decode_shapes(bad)


def test_coordinates_that_would_overflow_once_mapped_back_are_refused():
    from meanflow.core.targets import target_from_bytes

    rows = "".join(f"{i}e300,{-i}e300\n" for i in range(1, 40)).encode()
    with pytest.raises(TargetError, match="would overflow"):
        target_from_bytes("absurd.csv", rows)
    ok = target_from_bytes("big.csv", "".join(f"{i}e20,{-i}e20\n" for i in range(1, 40)).encode())
    assert np.isfinite(ok.sample(100, torch.Generator().manual_seed(0)).numpy()).all()


def test_a_label_column_that_is_not_a_few_whole_numbers_is_reported_not_dropped_silently():
    from meanflow.core.targets import label_column

    assert label_column([None, None]) == (None, "")
    labels, note = label_column([3.0, 5.0, 3.0])
    assert labels.tolist() == [0, 1, 0] and "2 classes" in note
    assert label_column([1.5, 2.0])[0] is None and "not whole" in label_column([1.5, 2.0])[1]
    assert label_column([float(i) for i in range(40_000)])[0] is None
    assert "40,000 distinct values" in label_column([float(i) for i in range(40_000)])[1]
    assert "missing on 1 rows" in label_column([1.0, None])[1]
    assert "one value" in label_column([2.0, 2.0])[1]
