"""Beyond 2D: the digits target, the dimension-generic core at D = 64, the classifier and its metrics."""

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from meanflow.core import digits
from meanflow.core.couplings import exact_ot, minibatch_ot
from meanflow.core.metrics import Evaluator
from meanflow.core.models import MLP
from meanflow.core.networks import RunBundle
from meanflow.core.registry import get_method, make_config, with_method
from meanflow.core.sampling import sample
from meanflow.core.targets import TargetError, get_target, parse_csv_table, read_csv_table
from meanflow.core.training import run_training
from tests.conftest import resumed_from_step


@pytest.fixture(scope="module")
def target():
    return get_target("digits")


def test_the_split_is_fixed_and_disjoint_and_the_target_draws_training_images(target):
    """1,400 training and 397 held-out images, all ten digits in each; draws come from the training images
    (within the +-0.5 dequantisation), in pixel values 0 .. 16, never from the held-out ones."""
    train, train_y = digits.train_split()
    held, held_y = digits.held_out_split()
    assert train.shape == (1400, 64) and held.shape == (397, 64)
    assert set(train_y) == set(held_y) == set(range(10))
    x, y = target.sample_labelled(150, torch.Generator().manual_seed(0))
    pixels = target.normaliser.to_data(x.double()).numpy()
    distance = np.abs(pixels[:, None, :] - train[None, :, :]).max(axis=2).min(axis=1)
    assert (distance <= 0.5 + 1e-5).all()
    nearest = np.abs(pixels[:, None, :] - train[None, :, :]).max(axis=2).argmin(axis=1)
    assert (train_y[nearest] == y.numpy()).all()
    assert pixels.min() >= -0.5 and pixels.max() <= 16.5
    assert target.dim == 64 and target.image_shape == (8, 8) and target.classes == 10


@pytest.mark.parametrize("frequencies", [0, 4])
def test_the_tangent_pass_equals_torch_func_jvp_at_64_dimensions(frequencies):
    """The exact tangent pass against torch.func.jvp with a 64-dimensional z beside the time columns."""
    g = torch.Generator().manual_seed(0)
    net = MLP(66, 64, 48, 3, "silu", g, time_columns=(64, 2), frequencies=frequencies).double()
    x = torch.randn(9, 66, generator=g, dtype=torch.float64)
    x_dot = torch.cat([torch.randn(9, 64, generator=g, dtype=torch.float64), torch.zeros(9, 1), torch.ones(9, 1)], 1)
    y, y_dot = net.forward_with_tangent(x, x_dot)
    y_ref, y_dot_ref = torch.func.jvp(net, (x,), (x_dot,))
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(y_dot, y_dot_ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("pair", [minibatch_ot, exact_ot])
def test_the_pairing_is_an_optimal_permutation_in_64_dimensions(pair):
    """On 6 points of 64 dimensions: a permutation of the noise, as cheap as the best of all 720."""
    g = torch.Generator().manual_seed(1)
    x, e = torch.randn(6, 64, generator=g), torch.randn(6, 64, generator=g)
    paired = pair(x, e)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, e.tolist()))
    best = min(
        sum(float((x[i] - e[p]).pow(2).sum()) for i, p in enumerate(perm)) for perm in itertools.permutations(range(6))
    )
    assert float((x - paired).pow(2).sum()) == pytest.approx(best, rel=1e-6)


def tiny_digits(method="meanflow", **changes):
    base = make_config(
        method=method, steps=40, batch=64, hidden=32, depth=2, preview_every=20, preview_n=50, seed=3, dim=64
    )
    return replace(base, **changes)


@pytest.mark.parametrize("method", ["meanflow", "flow-matching", "consistency", "imf"])
def test_a_resumed_digits_run_ends_with_the_weights_of_a_straight_run(target, method):
    """Checkpoint at step 17, resume to 40: identical weights to 40 straight, at D = 64, class-conditional."""
    classes = 10 if get_method(method).conditional else 0
    cfg = with_method(tiny_digits(), method, checkpoint_seconds=1e-9, classes=classes)
    straight = run_training(cfg, target)
    resumed = resumed_from_step(cfg, target, 17)
    assert resumed.step == 40 and straight.preview.shape == (50, 64)
    for p, q in zip(straight.flow.net.parameters(), resumed.flow.net.parameters()):
        assert torch.equal(p, q)


def test_a_config_of_another_dimension_is_a_clear_error(target, tiny_config):
    """A 2D network on the digits, or a teacher of other dimensions: a sentence, not a shape traceback."""
    with pytest.raises(ValueError, match="2 dimensions, but digits's have 64"):
        run_training(tiny_config, target)
    bundle = RunBundle(tiny_config.to_dict(), "data.csv", {"centre": (0, 0), "scale": 1.0}, b"")
    with pytest.raises(ValueError, match="points of 2 dimensions and this target's have 3"):
        bundle.check_target("teacher", "data.csv", 3)


def test_the_shipped_classifier_reaches_95_percent_on_the_held_out_images():
    """The bundled weights, on the 397 images training never saw; its record says the same."""
    held, held_y = digits.held_out_split()
    probs, features = digits.classify(held)
    accuracy = float((probs.argmax(axis=1) == held_y).mean())
    assert accuracy >= 0.95 and features.shape == (397, 64)
    record = json.loads((digits.assets_dir() / "digits" / "classifier.json").read_text())
    assert record["held_out_accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_the_floors_come_from_real_images_and_rank_noise_blur_and_copies(target):
    """Exact samples score the floors; noise and the mean image are far worse on FD, confidence and coverage;
    a copier of the training images scores near the FD floor but is caught by the memorisation check."""
    n = 397
    evaluator = Evaluator(target, n, torch.Generator().manual_seed(0))
    floor = evaluator.floor()
    assert 0 < floor.fd_floor < 15 and floor.confident_floor > 0.95 and floor.coverage_tv_floor < 0.1
    assert floor.hist_tv is None and floor.sliced_w1_floor > 0
    g = torch.Generator().manual_seed(1)
    noise = target.normaliser.to_data(torch.randn(n, 64, generator=g, dtype=torch.float64)).numpy()
    train, _ = digits.train_split()
    mean_image = np.repeat(train.mean(axis=0, keepdims=True), n, axis=0)
    copies = train[:n]
    held = digits.held_out_split()[0]
    scored = {name: evaluator.score(x) for name, x in [("noise", noise), ("mean", mean_image), ("copies", copies)]}
    for bad in ("noise", "mean"):
        assert scored[bad].fd > 10 * floor.fd_floor and scored[bad].confident < 0.2
        assert scored[bad].sliced_w1 > 3 * floor.sliced_w1_floor
    assert scored["mean"].coverage_tv > 0.5
    assert scored["copies"].fd < 1.5 * floor.fd_floor and scored["copies"].memorised == 1.0
    assert evaluator.score(held).memorised == pytest.approx(floor.memorised_real) and floor.memorised_real < 0.2


def test_a_short_digits_run_draws_the_digit_asked_for_far_above_chance(target):
    """A few seconds of class-conditional MeanFlow: one-step samples of digit k are classified as k far more
    often than noise's 10%."""
    cfg = make_config("meanflow", steps=1500, batch=128, hidden=256, depth=3, classes=10, dim=64, seed=0)
    result = run_training(cfg, target)
    hits = []
    for k in range(10):
        x = sample(result.flow, 50, 1, torch.Generator().manual_seed(k), label=k).samples
        hits.append((digits.classify(x)[0].argmax(axis=1) == k).mean())
    assert np.mean(hits) > 0.6, hits


def _csv(rows, header=None) -> bytes:
    lines = ([",".join(header)] if header else []) + [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def test_a_d_column_csv_reads_its_coordinates_and_a_named_label_column():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(40, 5)).round(3)
    points, labels = parse_csv_table(_csv(table))
    assert points.shape == (40, 5) and labels is None
    with_labels = np.column_stack([table, np.arange(40) % 3])
    points, labels, note = read_csv_table(_csv(with_labels, [f"x{i}" for i in range(5)] + ["label"]))
    assert points.shape == (40, 5) and labels.tolist() == (np.arange(40) % 3).tolist() and "3 classes" in note
    three = np.column_stack([table[:, :2], table[:, 2] + 0.5])
    points, labels, note = read_csv_table(_csv(three))
    assert points.shape == (40, 2) and labels is None and "not whole" in note  # the 2D reading, as before
    points, labels, _ = read_csv_table(_csv(with_labels[:, [0, 1, 2, 5]], ["a", "b", "c", "class"]))
    assert points.shape == (40, 3) and labels is not None  # three coordinates beside a named label column
    two_and_classes = np.column_stack([table[:, :2], np.arange(40) % 2])
    points, labels = parse_csv_table(_csv(two_and_classes))
    assert points.shape == (40, 2) and labels is not None  # the 2D reading, as before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_csv(np.ones((30, 65))), "65 coordinate columns; at most 64"),
        (_csv(np.ones((30, 66))), "66 columns; at most 64 coordinates and a label column"),
        (b"1,2,3,4\n1,2,3,4\n1,2,3\n", "line 3 has 3 columns and line 1 has 4"),
        (_csv(np.column_stack([np.ones((30, 4)), np.linspace(0, 1, 30)]), ["a", "b", "c", "d", "label"]), "not whole"),
        (_csv(np.column_stack([np.ones((30, 4)), np.arange(30)]), ["a", "b", "c", "d", "class"]), "at most 16 classes"),
    ],
)
def test_a_bad_d_column_csv_gets_its_message(data, message):
    with pytest.raises(TargetError, match=message):
        read_csv_table(data, "up.csv")


def test_class_scores_on_digits_read_the_classifier_and_compare_per_class_fd_with_its_floor(target):
    """Held-out images asked as their own digit score the classifier's accuracy; the mean image of every
    digit, asked as digit k, lands far above the per-class FD floor."""
    from meanflow.core.metrics import ClassEvaluator

    evaluator = ClassEvaluator(target, 40, torch.Generator().manual_seed(0))
    held, labels = digits.held_out_split()
    by_class = {k: held[labels == k] for k in range(10)}
    scores = evaluator.score(by_class)
    accuracy = float((digits.classify(held)[0].argmax(axis=1) == labels).mean())
    assert scores["accuracy"] == pytest.approx(accuracy) and scores["class_fd"] == pytest.approx(0.0, abs=1e-6)
    mean_image = digits.train_split()[0].mean(axis=0, keepdims=True)
    blurred = evaluator.score({k: np.repeat(mean_image, 40, axis=0) for k in range(10)})
    assert blurred["class_fd"] > 5 * scores["class_fd_floor"] > 0 and blurred["accuracy"] < 0.3
