"""User text stays text: one helper makes it inert for Markdown, HTML (Plotly), file names, terminals."""

import re

import pytest

from meanflow.core.targets import target_from_bytes
from meanflow.core.text import clean_name, literal
from meanflow.views.figures import scatter_grid, trajectory_animation

HOSTILE = (
    "payroll ![x](http://host/pixel.png) [Re-login here](http://host/phish) "
    "<a href='http://host/x'>y</a> :red[alarm] $\\LaTeX$ www.host.com a@b.co `code` **bold**.csv"
)


def test_markdown_literal_leaves_no_link_image_html_emoji_or_formula():
    out = literal(HOSTILE)
    assert "<a" not in out and "](" not in out and "![" not in out
    j = "\u2060"  # an invisible word joiner: GFM's autolinker finds no 'http://', 'www.' or 'a@b'
    assert f":{j}red\\[alarm\\]" in out and "\\$" in out and f"www{j}." in out and f"a{j}@b" in out
    assert f"&lt;a href='http:{j}//host/x'&gt;" in out and "http://" not in out
    assert out.replace(j, "").count("http://") == 3  # it reads the same
    assert literal("- item").startswith("\\-") and literal("12. item").startswith("12\\.")
    assert literal("line\nbreak") == "line break"


def test_html_literal_escapes_tags_and_quotes():
    assert literal("<b onclick='x'>&</b>", "html") == "&lt;b onclick=&#x27;x&#x27;&gt;&amp;&lt;/b&gt;"


def test_filename_and_terminal_literals():
    assert literal("../../etc/passwd", "filename") == "etc-passwd"
    assert literal("a b/c?.csv", "filename") == "a-b-c-.csv"
    assert literal("", "filename") == "download"
    assert literal("ok\x1b[31mred\x07", "terminal") == "ok?[31mred?"
    with pytest.raises(ValueError, match="accepted: markdown"):
        literal("x", "pdf")


def test_clean_name_is_one_short_line():
    assert clean_name("  a\tb\n\nc\u202e  ") == "a b c"
    assert len(clean_name("x" * 500)) == 60 and clean_name("x" * 500).endswith("…")
    assert clean_name("\x00\x01") == "untitled"


def test_figures_escape_every_string_they_are_given():
    """Titles, trace names and subplot titles are inert HTML, whatever the caller passes."""
    import numpy as np

    path = np.zeros((2, 5, 2))
    fig = trajectory_animation({HOSTILE: (np.array([1.0, 0.0]), path)}, n_frames=2)
    text = fig.to_json()
    assert "<a href" not in text and "&lt;a href" in text
    grid = scatter_grid({"<img src=x onerror=alert(1)>": np.zeros((3, 2))}, columns=1)
    assert not re.search(r"<img", grid.to_json())


def test_an_uploaded_file_name_becomes_a_clean_target_name():
    data = ("x,y\n" + "\n".join(f"{i},{i % 7}" for i in range(40))).encode()
    target = target_from_bytes("bad\nname\x1b[2J <script>.csv", data)
    assert "\n" not in target.name and "\x1b" not in target.name and target.name.startswith("bad name")
