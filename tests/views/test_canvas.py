"""The canvas animation (Home's demo): its data round-trips, and text stays text."""

import base64
import json
import re

import numpy as np

from meanflow.views.canvas import particle_animation_html


def canvas_data(html: str) -> dict:
    """The JSON the document's script reads."""
    (payload,) = re.findall(r'<script id="data" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(payload)


def floats(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.float32)


def test_the_paths_times_and_colours_travel_as_given():
    rng = np.random.default_rng(0)
    one = (np.array([1.0, 0.0]), rng.normal(size=(2, 50, 2)))
    many = (np.linspace(1.0, 0.0, 5), rng.normal(size=(5, 50, 2)))
    colours = rng.integers(0, 256, size=(50, 3), dtype=np.uint8)
    data = canvas_data(particle_animation_html({"A": one, "B": many}, rng.normal(size=(30, 2)), colours))
    assert data["titles"] == ["A", "B"] and data["n"] == 50
    assert data["times"] == [[1.0, 0.0], [1.0, 0.75, 0.5, 0.25, 0.0]]
    np.testing.assert_array_equal(floats(data["paths"][1]).reshape(5, 50, 2), many[1].astype(np.float32))
    assert np.array_equal(np.frombuffer(base64.b64decode(data["colours"]), np.uint8).reshape(50, 3), colours)
    assert data["wheel"].startswith("data:image/png;base64,")  # the colour key comes with the colours
    assert data["bounds"][0] == data["bounds"][1]  # one target: shared axes
    x0, x1, y0, y1 = data["bounds"][0]
    assert np.isclose(x1 - x0, y1 - y0)  # square panels
    assert data["tau"] == 0.0  # opens on the samples; Play replays from the noise
    assert data["references"][0] == data["references"][1] and data["traced"] == [] and not data["clickable"]


def test_panels_on_different_targets_get_their_own_axes_and_traced_particles_travel():
    rng = np.random.default_rng(1)
    near = (np.array([1.0, 0.0]), rng.normal(size=(2, 20, 2)))
    far = (np.array([1.0, 0.0]), rng.normal(size=(2, 20, 2)) + 50.0)
    data = canvas_data(
        particle_animation_html(
            {"near": near, "far": far},
            references=[rng.normal(size=(10, 2)), rng.normal(size=(10, 2)) + 50],
            traced=(3, 99, 7),
            clickable=True,
        )
    )
    (a0, a1, _, _), (b0, b1, _, _) = data["bounds"]
    assert a1 < 10 and b0 > 40  # each panel's window around its own points and target
    assert data["traced"] == [3, 7] and data["clickable"]  # 99 is not a particle
    assert floats(data["references"][1]).min() > 40


def test_a_title_that_looks_like_markup_stays_text():
    title = "</script><img src=x onerror=alert(1)> & <b>bold</b>"
    path = (np.array([1.0, 0.0]), np.zeros((2, 3, 2)))
    html = particle_animation_html({title: path})
    assert html.count("</script>") == 2  # the document's own two scripts: the title closes none
    assert "<img src=x" not in html and "<b>" not in html
    assert canvas_data(html)["titles"] == [title]  # shown with textContent / fillText, as the text it is


def test_autoplay_travels_for_a_lesson_step():
    path = (np.array([1.0, 0.0]), np.zeros((2, 3, 2)))
    assert canvas_data(particle_animation_html({"p": path}, autoplay=True))["autoplay"] is True
    assert canvas_data(particle_animation_html({"p": path}))["autoplay"] is False


def test_a_diverged_run_leaves_the_others_their_view_in_the_player_and_the_movie():
    """Animate of an ablation with a run at W1 992: its samples set the shared window and every other
    panel was a dot. The window is the target's and the noise's; that panel's title says what it cannot show."""
    from meanflow.views import export

    rng = np.random.default_rng(0)
    noise = rng.normal(size=(200, 2))
    good = (np.array([1.0, 0.0]), np.stack([noise, rng.normal(size=(200, 2)) * 0.5]))
    bad = (np.array([1.0, 0.0]), np.stack([noise, rng.normal(size=(200, 2)) * 1000]))
    reference = rng.normal(size=(300, 2)) * 0.5
    data = canvas_data(particle_animation_html({"good": good, "bad": bad}, reference))
    x0, x1, _, _ = data["bounds"][0]
    assert x1 - x0 < 20 and data["titles"][0] == "good" and data["titles"][1].startswith("(100% beyond the view)")
    frames = export.movie_frames({"good": good, "bad": bad}, reference=reference, n_frames=2)
    last = frames[-1]
    left = last[:, : last.shape[1] // 2]  # the good panel: its samples spread over many pixels, not a dot
    blue = (left[..., 2] > 150) & (left[..., 0] < 100)
    assert blue.sum() > 200
