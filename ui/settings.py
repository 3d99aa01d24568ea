"""URL-backed widgets: each setting is declared once (key, default, limits) and used three ways.

A `Setting` says what a widget accepts; `slider`, `number`, `select`, ... initialise the widget from
the query string once per session (a value outside the setting's limits, or one that does not parse,
falls back to the default), draw the widget with the same limits, and write its value back to the
URL so the page can be shared. Lists are deduplicated and capped at their choices, so a hand-made
URL can ask for no more work than the widgets allow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from meanflow.core.config import OptionSpec
from meanflow.core.text import literal

from . import present

MAX_URL_VALUE = 2000  # characters of one query value read at all


@dataclass(frozen=True)
class Setting:
    """A widget's key (also its URL parameter), default and accepted values."""

    key: str
    default: Any
    lo: float | None = None  # numbers: closed range
    hi: float | None = None
    choices: Sequence | None = None  # one of these (or, with multi, a list of them)
    integer: bool = False
    multi: bool = False
    aliases: tuple[str, ...] = ()  # older URL names of this setting

    def parse(self, raw: str):
        """The value `raw` (from a URL) stands for; raises ValueError for anything the widget would refuse."""
        raw = str(raw)[:MAX_URL_VALUE]
        if self.multi:
            values = []
            for part in raw.split(","):
                if part.strip():
                    try:
                        value = self._one(part.strip())
                    except ValueError:
                        continue  # one bad item of a list is dropped, the rest kept
                    if value not in values:
                        values.append(value)
            if raw.strip() and not values:  # items asked for, none valid: the default, not an empty page
                raise ValueError(f"none of {raw[:40]!r} is one of the choices")
            return values[: len(self.choices) if self.choices is not None else 32]
        return self._one(raw)

    def _one(self, raw: str):
        if self.choices is not None:
            for choice in self.choices:
                if str(choice) == raw:
                    return choice
            raise ValueError(f"{raw[:40]!r} is not one of the choices")
        if self.integer:
            if len(raw) > 20:
                raise ValueError("too long for a number")
            value = int(raw)
        elif self.lo is not None or self.hi is not None:
            if len(raw) > 40:
                raise ValueError("too long for a number")
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError("not a finite number")
        else:
            return raw
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError("out of range")
        return value

    def format(self, value) -> str:
        return url_text(value)


def setting_for(spec: OptionSpec, key: str, aliases: tuple[str, ...] = ()) -> Setting:
    """The Setting of a method option's widget, from its declaration (core.config.option_specs): the
    same default and limits as its command-line flag."""
    return Setting(
        key,
        spec.default,
        lo=spec.lo,
        hi=spec.hi,
        choices=spec.choices,
        integer=spec.integer,
        aliases=aliases,
    )


def initialise(setting: Setting):
    """Fill the widget's state, once per visit of its page, from the URL's value, else, on a plain visit
    (no settings in the URL), the value this session last published (Streamlit forgets a widget's state on
    a page left: a setting survives going to another page and back), else the default; returns the value."""
    return _initialised(setting)[0]


KEPT = "_kept_"  # + a setting's key: its last published value (a plain session key, which Streamlit keeps)


def _initialised(setting: Setting) -> tuple[Any, str]:
    """initialise(), and where the value came from: 'state', 'url', 'kept' or 'default'."""
    if setting.key in st.session_state:
        return st.session_state[setting.key], "state"
    value, source = setting.default, "default"
    for name in (setting.key, *setting.aliases):
        raw = st.query_params.get(name)
        if raw is not None:
            # a value this session published itself (a widget hidden, then drawn again) is no link's
            value, source = _parsed(setting, raw, "" if _published(name) else name), "url"
            break
    else:
        if KEPT + setting.key in st.session_state and _plain_visit():
            value, source = _parsed(setting, setting.format(st.session_state[KEPT + setting.key])), "kept"
    st.session_state[setting.key] = value
    return value, source


def _plain_visit() -> bool:
    """Whether the page was opened without settings in its URL (the sidebar, Back): a link or a lesson's
    step names what it shows, and what it leaves out is the default, as it is for a student's first visit,
    not this session's last value. The presenter view's flag, and values this run has already published
    (the URL a page writes as it draws its widgets, each its kept value), do not count."""
    return all(name == present.PARAM or _published(name) for name in st.query_params)


def _published(name: str) -> bool:
    kept = st.session_state.get(KEPT + name)
    if kept is None:
        return False
    return st.query_params.get(name) == url_text(kept)


def url_text(value) -> str:
    """A setting's value as its URL writes it (a list: comma-separated)."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _parsed(setting: Setting, raw: str, url_name: str = ""):
    """The value `raw` stands for, or the default where the widget would refuse it (a URL's value so
    refused is noted for show_refused: a lesson's or a link's typo must not go unseen)."""
    try:
        return setting.parse(raw)
    except (ValueError, OverflowError):
        if url_name:
            _refuse(url_name, raw)
        return setting.default


REFUSED = "_refused_settings"  # (URL parameter, its value) refused on this run
MAX_TOASTS = 3


def _refuse(name: str, raw: str) -> None:
    st.session_state.setdefault(REFUSED, []).append((name, raw))


def forget_refused() -> None:
    """Start a run with no refusals noted (one a stopped run left is not this page's to show)."""
    st.session_state.pop(REFUSED, None)


def show_refused() -> None:
    """Say, once, which of the URL's values the page refused (app.py calls this after the page ran): a
    teacher testing a lesson sees the typo, a student is not left wondering why the page differs."""
    refused = st.session_state.pop(REFUSED, [])
    for name, raw in refused[:MAX_TOASTS]:
        st.toast(
            f"This link's {literal(name, 'markdown')} = {literal(raw[:60], 'markdown')} is not a value the "
            "page accepts; it shows its default instead.",
            icon=":material/warning:",
            duration="long",  # a slow first paint must not swallow it
        )
    if len(refused) > MAX_TOASTS:  # a mangled link: one more line, not a column of toasts over the page
        more = len(refused) - MAX_TOASTS
        st.toast(f"... and {more} more of this link's values; the page shows its defaults for them.", duration="long")


def initialise_for(setting: Setting, owner: str) -> Any:
    """initialise() for a setting whose choices belong to `owner` (a target's classes): a value kept from
    another owner becomes the default, so the box shows this owner's choice, not the last one's name over
    this one's index (mode 4 read as the digit 3); a value read from the URL on this run (a link, a lesson's
    step) is kept when it is one of the choices."""
    marker = f"{setting.key}_owner"
    value, source = _initialised(setting)
    if value not in setting.choices or (source != "url" and st.session_state.get(marker) not in (None, owner)):
        if source == "url" and value not in setting.choices and not _published(setting.key):
            _refuse(setting.key, url_text(value))
        st.session_state[setting.key] = setting.default
    st.session_state[marker] = owner
    return st.session_state[setting.key]


def publish(*settings: Setting) -> None:
    """Write the settings' current values to the URL, and keep them for this session (initialise)."""
    for setting in settings:
        value = st.session_state.get(setting.key)
        if value is not None:
            st.query_params[setting.key] = setting.format(value)
            st.session_state[KEPT + setting.key] = value


def _drawn(setting: Setting, draw: Callable[[], Any]):
    initialise(setting)
    value = draw()
    publish(setting)
    return value


def slider(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.slider(label, setting.lo, setting.hi, key=setting.key, **kwargs))


def number(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.number_input(label, setting.lo, setting.hi, key=setting.key, **kwargs))


def select(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.selectbox(label, list(setting.choices), key=setting.key, **kwargs))


def select_slider(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.select_slider(label, list(setting.choices), key=setting.key, **kwargs))


def multiselect(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.multiselect(label, list(setting.choices), key=setting.key, **kwargs))


def segmented(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.segmented_control(label, list(setting.choices), key=setting.key, **kwargs))


def pills(label: str, setting: Setting, where=st, **kwargs):
    """A multi setting as chips that are all visible (a multiselect's box hides the last ones when narrow)."""
    return (
        _drawn(
            setting,
            lambda: where.pills(label, list(setting.choices), selection_mode="multi", key=setting.key, **kwargs),
        )
        or []
    )


def radio(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.radio(label, list(setting.choices), key=setting.key, **kwargs))


def toggle(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.toggle(label, key=setting.key, **kwargs))


def text(label: str, setting: Setting, where=st, **kwargs):
    return _drawn(setting, lambda: where.text_input(label, key=setting.key, **kwargs))
