"""The movie export: GIF and MP4 decode to 64 frames of 800 x 400 showing the panels, under 5 MB."""

import io

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image

from meanflow.views import export, palette


@pytest.fixture(scope="module")
def panels():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1000, 2, generator=g).numpy()
    data = noise * 0.3 + np.array([1.0, 0.0])
    one = (np.array([1.0, 0.0]), np.stack([noise, data]))
    times = np.linspace(1, 0, 9)
    many = (times, noise[None] + (data - noise)[None] * (1 - times)[:, None, None])
    return {"MeanFlow, 1 step": one, "Flow matching, 8 steps": many}


def test_frames_show_the_particles_moving_from_noise_to_data(panels):
    colours = palette.start_colours(panels["MeanFlow, 1 step"][1][0])
    done = []
    frames = export.movie_frames(panels, colours=colours, on_frame=lambda d, t: done.append((d, t)))
    assert len(frames) == 64 and frames[0].shape == (400, 800, 3) and frames[0].dtype == np.uint8
    assert done[-1] == (64, 64) and len(done) == 64
    assert not np.array_equal(frames[0], frames[-1])  # the particles moved

    # the last frame's particles sit right of the first frame's (data is centred at x = 1)
    def centre_x(frame):
        ys, xs = np.nonzero((frame < 200).any(axis=2)[40:-30, :400])
        return xs.mean()

    assert centre_x(frames[-1]) > centre_x(frames[0]) + 5


def test_gif_and_mp4_decode_to_64_frames_of_800_by_400_under_5_mb(panels, tmp_path):
    frames = export.movie_frames(panels)
    gif = export.gif_bytes(frames)
    image = Image.open(io.BytesIO(gif))
    assert image.format == "GIF" and image.size == (800, 400) and image.n_frames == 64
    mp4 = export.mp4_bytes(frames)
    (tmp_path / "a.mp4").write_bytes(mp4)
    reader = imageio.get_reader(tmp_path / "a.mp4", format="FFMPEG")
    decoded = [f for f in reader]
    assert len(decoded) == 64 and decoded[0].shape == (400, 800, 3)
    assert len(gif) < 5e6 and len(mp4) < 5e6


def test_start_colours_spread_hue_by_direction_and_pale_at_the_centre():
    c = palette.start_colours(np.array([[0.0, 0.0], [3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])).astype(int)
    assert c.shape == (4, 3)
    assert np.ptp(c[0]) < 40  # the centre: nearly grey
    assert np.ptp(c[1]) > 150 and not np.array_equal(c[1], c[2])  # far out: vivid, and by direction


def test_traced_particles_are_drawn_in_the_movie(panels):
    """The GIF shows the followed particles: their colour's pixels appear, and grow as the path is drawn."""
    plain, traced = export.movie_frames(panels, n_frames=8), export.movie_frames(panels, n_frames=8, traced=(1,))
    colour = np.array(palette.hex_rgb(palette.TRACE_COLOURS[1]))

    def painted(frame):
        return int((np.abs(frame.astype(int) - colour).sum(axis=2) < 30).sum())

    assert painted(plain[-1]) == 0 and painted(traced[0]) > 0
    assert painted(traced[-1]) > painted(traced[0])  # the path so far grows


def test_panels_on_different_targets_each_get_their_own_window():
    noise = np.random.default_rng(0).normal(size=(200, 2))
    near = (np.array([1.0, 0.0]), np.stack([noise, noise * 0.3]))
    far = (np.array([1.0, 0.0]), np.stack([noise + 100, noise * 0.3 + 100]))
    (frame,) = export.movie_frames({"near": near, "far": far}, n_frames=2, references=[noise, noise + 100])[-1:]
    left, right = (frame[40:-30, :400] < 200).any(axis=2), (frame[40:-30, 400:] < 200).any(axis=2)
    assert left.sum() > 100 and right.sum() > 100  # both panels show their particles (shared axes would not)
