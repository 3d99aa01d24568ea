"""User text shown as text: the one helper every label, title, file name and message goes through.

Streamlit's Markdown, widget labels and Plotly titles interpret markup, so a file named
`payroll ![x](http://host/p.png) <a href=...>.csv` would become an image and a link. `literal`
makes any user-provided string (file names, typed text, run labels, URL values) inert for the
medium it is shown in, and `clean_name` makes a short, single-line name from it for labels.
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from pathlib import Path

MEDIA = ("markdown", "html", "filename", "terminal")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# What makes Markdown of inline text: emphasis, code, links and images, tables, strikethrough,
# plus what Streamlit adds: ':' (emoji, icons and :red[colour] directives) and '$' (KaTeX). '<' and
# '&' are HTML-escaped first. Block syntax ('- ', '# ', '1. ') matters only at the start: see below.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()#!|~$])")
# GFM links bare URLs, www. names and e-mail addresses after parsing, in the text itself, so no escape
# stops it: an invisible WORD JOINER (U+2060) after each ':' and 'www' and before each '@' breaks
# 'http://', 'www.' and 'a@b' apart (and ':emoji:' shortcodes) while the text reads the same.
_JOINER = "\u2060"
_LINK_CHARACTERS = {":": ":" + _JOINER, "@": _JOINER + "@"}
_WWW = re.compile(r"(www)\.", re.IGNORECASE)
_LINE_START = re.compile(r"^(\s*)(?:([-+=>])|(\d+)([.)]))")


def clean_name(text: str, limit: int = 60) -> str:
    """One line of at most `limit` characters: control and invisible characters removed, spaces
    collapsed, Unicode normalised (NFKC). Empty input gives 'untitled'."""
    text = unicodedata.normalize("NFKC", str(text))
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or "untitled"


def literal(text: str, medium: str = "markdown") -> str:
    """`text` made inert for `medium`:

    markdown: shown verbatim by st.markdown, st.caption, widget labels (Markdown and HTML escaped);
    html: shown verbatim in Plotly titles, annotations and hover text (HTML escaped);
    filename: a safe download file name (letters, digits, '.', '-', '_');
    terminal: printable on one terminal line (control characters, escape sequences removed).
    """
    text = str(text)
    if medium == "markdown":
        text = _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(_CONTROL.sub(" ", text), quote=False))
        text = re.sub("[:@]", lambda m: _LINK_CHARACTERS[m.group()], text)
        text = _WWW.sub(r"\1" + _JOINER + ".", text)
        return _LINE_START.sub(
            lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}"), text
        )
    if medium == "html":
        return html.escape(_CONTROL.sub(" ", text), quote=True)
    if medium == "filename":
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", unicodedata.normalize("NFKD", text)).strip("-.")
        return stem[:80] or "download"
    if medium == "terminal":
        return _CONTROL.sub("?", text)
    raise ValueError(f"unknown medium {medium!r}; accepted: {', '.join(MEDIA)}")


_IMAGE = re.compile(r"!\[([^\]]*)\]\s*(?:\([^)]*\)|\[[^\]]*\])")
_HTML_TAG = re.compile(r"<[A-Za-z!/?][^>]*>")


def safe_markdown(text: str, limit: int = 4000) -> str:
    """An author's Markdown (a lesson's text) kept as Markdown, made safe to render: images (which a
    browser would fetch from anywhere) become their alt text, HTML tags are shown as text, control
    characters are removed, and the text is cut at `limit` characters. Emphasis, lists, code, LaTeX and
    links stay: they are the author's to use."""
    text = _CONTROL.sub(lambda m: m.group() if m.group() in "\n\t" else " ", str(text)[:limit])
    text = _IMAGE.sub(lambda m: m.group(1), text)
    return _HTML_TAG.sub(lambda m: html.escape(m.group(), quote=False), text)


def _file_on_the_path(path: str) -> str | None:
    """The first part of `path` (from the root) that is a file, if any."""
    parts = Path(path).parts
    for n in range(1, len(parts) + 1):
        part = Path(*parts[:n])
        if part.is_file():
            return str(part)
    return None


def counted(k: int, noun: str) -> str:
    """'1 trial', '8 trials', '0 points': k and its noun, plural unless k is 1."""
    return f"{k} {noun}{'s' * (k != 1)}"


def steps_label(k: int) -> str:
    """'1 step', '8 steps'."""
    return counted(k, "step")


def missing(path: str | Path, wanted: str) -> str:
    """Why `path` is not the file or folder (`wanted`: 'file' or 'folder') a command asked for: 'not found',
    'is a folder, not a file' or 'is a file, not a folder' (a run folder given for a sample file was read
    as 'not found')."""
    if wanted == "file" and os.path.isdir(path):
        return "is a folder, not a file"
    if wanted == "file" and os.path.exists(path):
        return "is not a regular file"  # a pipe, a device
    if wanted == "folder" and os.path.exists(path):
        return "is a file, not a folder"
    return "not found"


def error_text(exc: BaseException) -> str:
    """The one line an error prints: an operating system's error as `PATH: what is wrong` (as cp and
    mkdir say it), without Python's `[Errno 20]`; any other error's own words."""
    if isinstance(exc, NotADirectoryError) and exc.filename:
        in_the_way = _file_on_the_path(str(exc.filename))  # a folder asked for under a file
        if in_the_way:
            return f"{in_the_way} is a file, not a folder"
    if isinstance(exc, FileExistsError) and exc.filename and os.path.isfile(exc.filename):
        return f"{exc.filename} already exists and is a file"  # mkdir(parents=True) met it, or an exclusive open
    if isinstance(exc, OSError) and exc.strerror:
        paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
        return ": ".join([" -> ".join(paths), exc.strerror] if paths else [exc.strerror])
    return str(exc)
