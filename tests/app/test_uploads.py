"""Hostile and broken uploads on the Train page: a clear message each, no traceback, no training."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow  # worker processes, subprocesses or whole app runs: `make test-fast` skips them

ROOT = Path(__file__).resolve().parents[2]


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size but holds no pixels: enough to be refused before decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0)
        + b"IEND"
        + struct.pack(">I", zlib.crc32(b"IEND"))
    )


def _table(rows: np.ndarray, header: list[str]) -> bytes:
    return (",".join(header) + "\n" + "\n".join(",".join(f"{v:g}" for v in row) for row in rows)).encode()


D_COLUMN_UPLOADS = [
    ("wide.csv", _table(np.ones((30, 65)), [f"x{i}" for i in range(65)]), "at most 64"),
    ("ragged.csv", b"a,b,c,d\n" + b"1,2,3,4\n" * 25 + b"1,2,3\n", "line 27 has 3 columns and line 2 has 4"),
    (
        "fractional.csv",
        _table(np.column_stack([np.ones((30, 4)), np.linspace(0, 1, 30)]), [*"abcd", "label"]),
        "not whole",
    ),
]


BAD_UPLOADS = [
    ("letters.csv", b"name,city\nann,paris\nbob,rome\n", "not numeric"),
    ("one_column.csv", b"x\n" + b"1\n" * 50, "1 column"),
    ("nan.csv", b"x,y\n" + b"1,2\n" * 30 + b"nan,3\n", "NaN or infinite"),
    ("inf.csv", b"x,y\n" + b"1,2\n" * 30 + b"inf,3\n", "NaN or infinite"),
    ("ten.csv", b"x,y\n" + b"".join(f"{i},{i}\n".encode() for i in range(10)), "at least 20"),
    ("huge_rows.csv", b"1,2\n" * 5_000_000, "more than 1,000,000 rows"),
    ("fifty_mb.csv", b"1,2\n" * (13 * 2**20 + 1), "the limit is 50 MB"),
    ("photo.png", b"this is not an image at all" * 10, "not a readable image"),
    ("giant.png", png_header(20000, 20000), "the limit is 40,000,000 pixels"),
    ("tall.png", png_header(40, 1_500_000), "the limit is 40,000,000 pixels"),
    ("empty.csv", b"", "is empty"),
    ("absurd.csv", b"x,y\n" + b"".join(f"{i}e300,{i}e299\n".encode() for i in range(1, 40)), "would overflow"),
    *D_COLUMN_UPLOADS,
]


def open_train(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/train.py").run()
    return at


@pytest.fixture
def train_page(tmp_path, monkeypatch):
    at = open_train(tmp_path, monkeypatch)
    at.radio(key="target_source").set_value("Upload").run()
    return at


@pytest.mark.parametrize("name, data, message", BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_a_bad_upload_says_what_is_wrong_and_blocks_training(train_page, name, data, message):
    at = train_page
    at.get("file_uploader")[0].upload(name, data).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert message in errors, errors
    assert at.button(key="launch").disabled


def test_a_good_csv_upload_previews_and_can_train(train_page):
    at = train_page
    pts = np.random.default_rng(0).normal(size=(500, 2)) * [300, 100] + [5000, 200]
    data = ("east,north\n" + "\n".join(f"{x:.3f},{y:.3f}" for x, y in pts)).encode()
    at.get("file_uploader")[0].upload("survey.csv", data).run()
    assert not at.exception and not at.error
    assert not at.button(key="launch").disabled
    limits = " ".join(c.value for c in at.caption)
    assert "50 MB" in limits and "1,000,000 points" in limits


LABEL_NOTES = [
    ("many", "".join(f"{i},{i % 7},{i * 1000}\n" for i in range(300)), "300 distinct values"),
    ("fractions", "".join(f"{i},{i % 7},{i / 3:.3f}\n" for i in range(300)), "not whole"),
    ("classes", "".join(f"{i},{i % 7},{i % 3}\n" for i in range(300)), "read as 3 classes"),
]


@pytest.mark.parametrize("name, text, note", LABEL_NOTES, ids=[n[0] for n in LABEL_NOTES])
def test_a_third_column_is_used_as_classes_or_the_page_says_why_not(train_page, name, text, note):
    """Failure 9 (labels): tens of thousands of distinct values, or non-integer labels, were dropped without a word."""
    at = train_page
    at.get("file_uploader")[0].upload(f"{name}.csv", ("x,y,label\n" + text).encode()).run()
    assert not at.exception and not at.error
    assert note in " ".join(i.value for i in at.info)
    assert not at.button(key="launch").disabled


def test_a_runs_folder_that_is_a_file_is_a_message_on_the_page_not_a_traceback(tmp_path, monkeypatch):
    """Failure 8: MEANFLOW_RUNS_DIR naming a file showed a raw NotADirectoryError with server paths."""
    not_a_folder = tmp_path / "runs.txt"
    not_a_folder.write_text("x")
    monkeypatch.setenv("MEANFLOW_RUNS_DIR", str(not_a_folder))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error).replace("\\", "")  # the message, Markdown escapes taken out
    assert "MEANFLOW_RUNS_DIR" in shown and "not a file" in shown


def test_a_d_column_upload_with_labels_previews_on_its_principal_axes_and_can_train(train_page):
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.normal(size=(300, 10)), np.arange(300) % 3])
    at = train_page
    at.get("file_uploader")[0].upload("ten.csv", _table(rows, [f"x{i}" for i in range(10)] + ["label"])).run()
    assert not at.exception and not at.error
    assert "read as 3 classes" in " ".join(i.value for i in at.info)
    assert not at.button(key="launch").disabled


def test_digits_preview_real_images_and_can_train(tmp_path, monkeypatch):
    at = open_train(tmp_path, monkeypatch)
    at.selectbox(key="target").set_value("digits").run()
    assert not at.exception and not at.error
    assert len(at.get("image")) == 1 and not at.button(key="launch").disabled
    assert (at.select_slider(key="hidden").value, at.slider(key="depth").value) == (256, 3)  # the digits' network
    at.selectbox(key="target").set_value("moons").run()
    assert (at.select_slider(key="hidden").value, at.slider(key="depth").value) == (128, 4)  # and back
