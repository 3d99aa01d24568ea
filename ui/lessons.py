"""Lessons: a file of steps, each a page, its settings and a short text, read and checked here.

A lesson is a JSON document (assets/lessons/NAME.json, or a file a teacher uploads):

    {"title": "MeanFlow in ten minutes",
     "steps": [{"title": "Flow matching's paths curve", "page": "animate",
                "settings": {"anim_left_run": "bundled:flow-matching-checkerboard", "anim_left_steps": 32},
                "text": "Markdown shown above the page."}, ...]}

`page` is one of PAGES; `settings` are the page's URL parameters (the page checks each value as it
checks a hand-made link: a value it refuses falls back to its default, and a toast says so). Anything
else is an error that names the line of the file where it is, and nothing of a refused file is used.
No streamlit here: the lesson bar (ui.lesson_bar) draws what this module reads.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from dataclasses import dataclass
from pathlib import Path

from meanflow.core.paths import assets_dir

PAGES = ("home", "train", "animate", "compare", "fields", "ablations", "guidance", "learn")
LESSONS_DIR = assets_dir() / "lessons"
MAX_LESSON_BYTES = 64 * 1024
MAX_STEPS = 40
MAX_SETTINGS = 24
MAX_TITLE = 80
MAX_TEXT = 2000
MAX_VALUE = 200
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
SETTING_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED = ("lesson", "step", "present", "runs")  # the lesson bar's and the session's own parameters
STEP_FIELDS = ("title", "page", "settings", "text")


class LessonError(ValueError):
    """A lesson file that cannot be used; the message names its line."""


@dataclass(frozen=True)
class Step:
    """One step: the page it opens, the page's settings (URL parameter -> value), a title and a text."""

    title: str
    page: str
    settings: tuple[tuple[str, str], ...]
    text: str


@dataclass(frozen=True)
class Lesson:
    name: str  # the file's stem: lesson=NAME in the URL
    title: str
    steps: tuple[Step, ...]


class _Located(dict):
    """A JSON object that remembers the line it starts on."""

    line = 0


def _decoder() -> json.JSONDecoder:
    """A JSON decoder whose objects know their line (the pure-Python scanner, so parse_object is ours)."""
    decoder = json.JSONDecoder()

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None, _w=None):
        s, end = s_and_end
        pairs, after = json.decoder.JSONObject(s_and_end, strict, scan_once, None, list, memo)
        located = _Located()
        for key, value in pairs:
            if key in located:
                raise LessonError(f"line {s.count(chr(10), 0, end) + 1}: {key!r} is given twice")
            located[key] = value
        located.line = s.count("\n", 0, end) + 1
        return located, after

    decoder.parse_object = parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    return decoder


def _text(where: str, obj: _Located, key: str, limit: int, required: bool = True) -> str:
    value = obj.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise LessonError(f"line {obj.line}: {where}{key!r} must be a non-empty string")
    if len(value) > limit:
        raise LessonError(f"line {obj.line}: {where}{key!r} is {len(value)} characters long; at most {limit}")
    return value


def _setting_value(value) -> str:
    """A setting as the URL carries it ('true', '0.5', 'a,b'); raises ValueError for anything else."""
    if isinstance(value, bool):
        return str(value)  # the pages' toggles read 'True' / 'False' (ui.settings.Setting.format)
    if isinstance(value, (int, float, str)):
        text = str(value)
    elif isinstance(value, list) and len(value) <= 16 and all(isinstance(v, (int, float, str)) for v in value):
        text = ",".join(str(v) for v in value)
    else:
        raise ValueError("must be a string, a number, true/false or a list of those")
    if len(text) > MAX_VALUE:
        raise ValueError(f"is longer than {MAX_VALUE} characters")
    return text


def _step(obj, number: int) -> Step:
    if not isinstance(obj, _Located):
        raise LessonError(f"step {number} must be an object with a title, a page and a text")
    where = f"step {number}: "
    unknown = sorted(set(obj) - set(STEP_FIELDS))
    if unknown:
        raise LessonError(f"line {obj.line}: {where}unknown field {unknown[0]!r}; a step has {', '.join(STEP_FIELDS)}")
    page = obj.get("page")
    if page not in PAGES:
        raise LessonError(f"line {obj.line}: {where}'page' must be one of {', '.join(PAGES)}; got {page!r:.40}")
    raw = obj.get("settings", {})
    if not isinstance(raw, dict):
        raise LessonError(f"line {obj.line}: {where}'settings' must be an object of URL parameters")
    line = getattr(raw, "line", obj.line)
    if len(raw) > MAX_SETTINGS:
        raise LessonError(f"line {line}: {where}{len(raw)} settings; at most {MAX_SETTINGS}")
    settings = []
    for key, value in raw.items():
        if not SETTING_KEY.match(key) or key in RESERVED:
            raise LessonError(
                f"line {line}: {where}setting {key!r:.50} is not a page's URL parameter"
                + (" (the lesson bar sets it)" if key in RESERVED else "")
            )
        try:
            settings.append((key, _setting_value(value)))
        except ValueError as exc:
            raise LessonError(f"line {line}: {where}setting {key!r} {exc}") from None
    return Step(
        _text(where, obj, "title", MAX_TITLE),
        page,
        tuple(settings),
        _text(where, obj, "text", MAX_TEXT),
    )


def parse_lesson(name: str, data: bytes) -> Lesson:
    """The lesson in `data` (JSON, UTF-8); LessonError naming the line of the first problem."""
    if not NAME.match(name):
        raise LessonError(f"lesson name {name!r:.70} must be lower-case letters, digits and '-' (at most 60)")
    if len(data) > MAX_LESSON_BYTES:
        raise LessonError(f"the file is {len(data):,} bytes; a lesson is at most {MAX_LESSON_BYTES:,}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LessonError(f"line {line}: not UTF-8 text") from None
    try:
        document, end = _decoder().raw_decode(text.lstrip("\ufeff"))
        rest = text.lstrip("\ufeff")[end:]
        if rest.strip():
            line = text.lstrip("\ufeff").count("\n", 0, end + len(rest) - len(rest.lstrip())) + 1
            raise LessonError(f"line {line}: text after the end of the lesson")
    except json.JSONDecodeError as exc:
        raise LessonError(f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise LessonError("line 1: nested too deeply") from None
    if not isinstance(document, _Located):
        raise LessonError("line 1: a lesson is a JSON object with a title and steps")
    unknown = sorted(set(document) - {"title", "steps"})
    if unknown:
        raise LessonError(f"line {document.line}: unknown field {unknown[0]!r}; a lesson has title and steps")
    title = _text("", document, "title", MAX_TITLE)
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        raise LessonError(f"line {document.line}: 'steps' must be a list of at least one step")
    if len(steps) > MAX_STEPS:
        raise LessonError(f"line {document.line}: {len(steps)} steps; a lesson has at most {MAX_STEPS}")
    return Lesson(name, title, tuple(_step(obj, i) for i, obj in enumerate(steps, 1)))


def lesson_name(file_name: str) -> str:
    """The lesson name of an uploaded file: its name without '.json', lower-cased, other characters made '-'
    (the whole name: a browser's file name has no folders, and '<i>x</i>.json' is not a lesson 'i')."""
    stem = re.sub(r"\.json$", "", str(file_name), flags=re.IGNORECASE).lower()
    return re.sub(r"[^a-z0-9-]+", "-", stem).strip("-")[:60] or "lesson"


def bundled_lessons(folder: Path = LESSONS_DIR) -> dict[str, Lesson]:
    """The shipped lessons by name (a broken shipped file is a bug: it raises)."""
    return {p.stem: parse_lesson(p.stem, p.read_bytes()) for p in sorted(folder.glob("*.json"))}
