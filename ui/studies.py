"""A study on a page: the bundled table at first paint, "Run live" on the engine, table, bars and pictures.

Used by the Ablations page (any study) and by Compare's method mode (the `methods` study). The
bundled tables are `assets/studies/<study>.json`, made by `make ablations` (and `make assets`
for the methods); a live sweep belongs to this browser session and trains within its share of the
engine, a few runs at a time, filling the table as runs finish.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from meanflow.core.metrics import floor_name
from meanflow.core.paths import assets_dir, study_runs_dir
from meanflow.core.presets import tuning_sentence
from meanflow.core.registry import METHODS
from meanflow.core.runs import WEIGHTS_FILE, load_run
from meanflow.core.targets import Target, get_target
from meanflow.core.text import literal, steps_label
from meanflow.lab.records import load_study, picture_samples
from meanflow.lab.scoring import EVAL_N, NFES, REFERENCE_NFE, judged_nfe
from meanflow.lab.studies import HELD_OUT_TARGETS, PRESET_DIM, STUDIES, Cell, Study, chart_families
from meanflow.lab.sweeps import Budget, Sweep
from meanflow.lab.tables import (
    HEADLINES,
    anytime_curves,
    cell_network,
    charged_curves,
    paper_agreement,
    runaway_seeds,
)
from meanflow.views import figures

from . import points, present, server

POLL_SECONDS = 2.0
CHART_METRICS = {  # what the bar chart can show: key -> its name on the page
    "hist_tv@1": "histogram TV, 1 step",
    "hist_tv@2": "histogram TV, 2 steps",
    "hist_tv@32": "histogram TV, 32 steps",
    "fd@1": "FD, 1 step",  # the digits
    "fd@2": "FD, 2 steps",
    "fd@32": "FD, 32 steps",
    "sliced_w1@1": "sliced W1, 1 step",
    "in_support@1": "in cells, 1 step",
    "confident@1": "recognised, 1 step",
}
# what a table row shows at one step and at more: 2D targets, and the digits (scored by their classifier)
ROW_METRICS = {
    "hist_tv": ((("hist_tv", "TV"), ("sliced_w1", "W1"), ("in_support", "in cells")), (("hist_tv", "TV"),)),
    "fd": (
        (("fd", "FD"), ("confident", "recognised"), ("coverage_tv", "coverage TV"), ("memorised", "memorised")),
        (("fd", "FD"),),
    ),
}


@st.cache_data(show_spinner=False, max_entries=16)
def bundled(study_name: str) -> dict | None:
    """The bundled study record (assets/studies/NAME.json), or None."""
    try:
        return load_study(assets_dir() / "studies" / f"{study_name}.json")
    except ValueError:
        return None


def cell_label(run_id: str) -> str:
    """'Time conditioning: t - r' for a bundled ablation cell's run id (the first study listing it)."""
    for study in STUDIES.values():
        record = bundled(study.name)
        for cells in (record or {}).get("runs", {}).values():
            for cell, listed in cells.items():
                if listed == run_id:
                    return f"{study.title}: {cell}"
    return "ablation run"


def seeds_phrase(seeds: int) -> str:
    """'mean ± std over 3 seeds', or 'one seed (no spread)'."""
    return f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed (no spread)"


def _number(value: float) -> str:
    """0.123 for the usual values; 2.4e+68 for a sampler that diverged (a table cell stays narrow)."""
    return f"{value:.3f}" if abs(value) < 1e4 else f"{value:.2g}"


def floor_cells(row: dict) -> dict:
    """A row's floors as the table shows them: every metric of its one-step columns, at the table's n."""

    def listed(*keys: str) -> str:
        return ", ".join(f"{row[k]:.3f}" if row.get(k) is not None else "—" for k in keys)

    if "hist_tv_floor" in row:
        if row.get("in_support_floor") is not None:  # targets with cells
            return {"floors (TV, W1, in cells)": listed("hist_tv_floor", "sliced_w1_floor", "in_support_floor")}
        return {"floors (TV, W1)": listed("hist_tv_floor", "sliced_w1_floor")}
    if "fd_floor" in row:
        floors = listed("fd_floor", "confident_floor", "coverage_tv_floor") + "; " + listed("memorised_real")
        return {"floors (FD, recognised, coverage TV; held-out memorised)": floors}
    return {}


def reference_ratio(row: dict, metric: str) -> str | None:
    """A row's metric, at the steps its method is judged at, over the best flow matching's at 32 steps
    ('1.00 (its 32 steps)' for the reference itself); None where the table has no flow matching. The ratios
    are lab.tables.with_reference's, the ones the CSV carries."""
    nfe = judged_nfe(row["method"])
    ratio = row.get(f"{metric}@{nfe}_over_fm32")
    if ratio is None:
        return None
    return f"{ratio:.2f}" + ("" if nfe == 1 else f" (its {nfe} steps)")


def table_csv(rows: list[dict], target: str, run_ids: dict[str, str] | None = None) -> str:
    """The rows of one target as numbers, not as the page writes them: each metric's mean ('hist_tv@1'), its
    std over seeds ('_std') and every seed's value ('_seeds', separated by ';', in the order of 'seed_order':
    a record made before it kept one ran seeds 0, 1, ...), the floors, the ratio to the best flow matching at
    32 steps, what the row held (pairing, network, tuning, note), n, and the run id of the row's seed 0
    (run_ids: cell -> id, where known: that run's headline is the '_seeds' value of seed 0)."""
    out = []
    for row in rows:
        if row["target"] != target:
            continue
        order = row.get("seed_order", list(range(row.get("seeds", 0))))
        line = {k: ";".join(f"{v:g}" for v in value) if isinstance(value, list) else value for k, value in row.items()}
        out.append({"n": EVAL_N, **line, "seed_order": ";".join(map(str, order)), "run id (seed 0)": None})
        if run_ids and row["cell"] in run_ids:
            out[-1]["run id (seed 0)"] = run_ids[row["cell"]]
    return pd.DataFrame(out).dropna(axis=1, how="all").to_csv(index=False)


def seed_zero_runs(source: str, record: dict | None, sweep: Sweep | None, target: str) -> dict[str, str]:
    """cell -> the run id of its seed 0 on `target`: the live sweep's, or the bundled record's."""
    if source == "live" and sweep is not None:
        return {r.cell.name: r.path.name for r in sweep.runs if r.target == target and r.seed == 0}
    return dict((record or {}).get("runs", {}).get(target, {}))


TABLE_COLUMNS = {  # the row's name stays in view while the table scrolls to its pairing and network
    "cell": st.column_config.TextColumn("cell", pinned=True),
    "steps": st.column_config.Column(
        "training steps",
        help="Training steps each run made in its budget (mean over seeds); the @K columns are sampling steps.",
    ),
}


def metric_columns(row: dict) -> list[tuple[str, str]]:
    """The metric columns the table makes for a row, as (key, label): ('fd@32', 'FD @32'); every metric at
    one step, the headline alone at more (the table stays readable)."""
    one, more = ROW_METRICS[rows_headline([row])]
    return [(f"{m}@{nfe}", f"{label} @{nfe}") for nfe in NFES for m, label in (one if nfe == 1 else more)]


def table_frame(rows: list[dict], target: str, study: Study) -> pd.DataFrame:
    """The rows of one target as a table: each metric 'mean ± std' over seeds, the floors, the paper."""
    out = []
    for row in rows:
        if row["target"] != target:
            continue
        steps = row.get("steps")  # a mean over seeds: whole steps are enough
        line = {"cell": row["cell"], "seeds": row.get("seeds", 0), "steps": None if steps is None else round(steps)}
        for key, label in metric_columns(row):
            if key in row and row[key] is not None:
                std = row.get(f"{key}_std")
                spread = "" if std is None or (isinstance(std, float) and math.isnan(std)) else f" ± {_number(std)}"
                line[label] = f"{_number(row[key])}{spread}"
        line.update(floor_cells(row))
        for metric, label in (("hist_tv", "TV"), ("fd", "FD")):  # the headline over the best flow matching's
            ratio = reference_ratio(row, metric)
            if ratio is not None:
                line[f"{label} @1 ÷ best FM @32"] = ratio
        for key in ("pairing", "network", "tuning", "note"):  # what a reader must know to compare the row
            if row.get(key):
                line[key] = row[key]
        paper = next((c.paper for c in study.cells if c.name == row["cell"]), None)
        if any(c.paper is not None for c in study.cells):
            line["paper FID"] = "—" if paper is None else f"{paper:g}"
        out.append(line)
    frame = pd.DataFrame(out)
    if "steps" in frame and frame["steps"].isna().any():  # a live row not scored yet: a dash, not None or 13746.0
        frame["steps"] = ["—" if pd.isna(v) else str(int(v)) for v in frame["steps"]]
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    return frame.fillna(dict.fromkeys(text, ""))  # a row without a note reads blank, not 'None'


def runaway_caption(rows: list[dict]) -> None:
    """Under the table: a seed whose score dwarfs the others (a sampling chain that ran away), which makes
    that cell's mean ± std its own; the other seeds' values beside it. Only for the table's own columns."""
    labels = dict(column for row in rows for column in metric_columns(row))
    lines = [
        f"{literal(r.cell)}, {labels[r.key]}: seed {r.seed} of {len(r.others) + 1} reads {_number(r.value)} "
        f"(the others {', '.join(map(_number, r.others))})"
        for r in runaway_seeds(rows)
        if r.key in labels
    ]
    if lines:
        st.caption(
            "One seed far from the others sets these means (some of its samples diverged at that step count, "
            "far outside the data): " + "; ".join(lines) + "."
        )


def live_sweep(study: Study, key: str) -> Sweep | None:
    return st.session_state.get(f"sweep_{key}_{study.name}")


def _on_grid(value, fallback: int, lo: int, hi: int, step: int) -> int:
    """`value` (or `fallback` when it is missing) as a slider from lo to hi in `step`s can show it."""
    value = fallback if not value else value
    return int(min(hi, max(lo, round(float(value) / step) * step)))


def live_budget(study: Study, key: str, kind_column, size_column) -> Budget:
    """What each live run may spend: seconds, or steps as the bundled table of a step-budget study (the
    paper's ablations: 5,000 steps) was made, so a rerun reads beside it; the kind and the size open at
    the table's, within the sliders' ranges."""
    stored = (bundled(study.name) or {}).get("budget") or {}
    by_steps = bool(stored) and not stored.get("seconds")
    kind = kind_column.radio(
        "Budget",
        ("seconds", "steps"),
        index=1 if by_steps else 0,
        key=f"{key}_budget_{study.name}",
        horizontal=True,
        help="The bundled table's kind of budget first: a wall-clock budget favours the faster step, a step "
        "budget does not.",
    )
    if kind == "steps":
        steps = size_column.slider(
            "Steps per run",
            500,
            10_000,
            _on_grid(stored.get("steps") if by_steps else None, 2_000, 500, 10_000, 500),
            step=500,
            key=f"{key}_steps_{study.name}",  # per study: each opens at its own table's size
            help="Every run of the study makes this many training steps, the same network and batch.",
        )
        return Budget(seconds=None, steps=int(steps))
    seconds = size_column.slider(
        "Seconds per run",
        5,
        120,
        _on_grid(stored.get("seconds"), 20, 5, 120, 5),
        step=5,
        key=f"{key}_seconds_{study.name}",
        help="Every run of the study gets this wall-clock budget, the same network and batch.",
    )
    return Budget(seconds=float(seconds))


def run_live_controls(study: Study, targets: list[Target], key: str, cells: list[str] | None = None) -> None:
    """Budget and seeds, and a button that starts this study as a sweep of this session (or stops it)."""
    sweep = live_sweep(study, key)
    c0, c1, c2, c3 = st.columns([1.3, 2, 1, 1])
    budget = live_budget(study, key, c0, c1)
    seeds = c2.number_input(
        "Seeds",
        1,
        3,
        2,
        key=f"{key}_seeds",
        help="Each cell is trained once per seed; the table gives the mean and spread over seeds.",
    )
    running = sweep is not None and not sweep.done
    if running:
        c3.button("Stop", key=f"{key}_stop", on_click=sweep.stop, help="Finished cells keep their scores.")
    elif c3.button(
        "Run live",
        key=f"{key}_run",
        type="primary",
        help="Train the study here, on this server's workers, within this session's share.",
    ):
        sess = server.open_session()
        st.session_state[f"sweep_{key}_{study.name}"] = Sweep(
            study,
            targets,
            int(seeds),
            budget,
            sess.engine,
            server.runs_dir(),
            owner=sess.owner,
            cells=cells,
        )
        st.rerun()


def progress(study: Study, key: str) -> None:
    """A line of progress for the live sweep, polled while it trains (it pumps the sweep)."""
    sweep = live_sweep(study, key)
    if sweep is None:
        return

    @st.fragment(run_every=POLL_SECONDS if not sweep.done else None)
    def show():
        sweep.pump()
        counts, done = sweep.counts(), sweep.scored_count
        st.progress(
            done / max(1, len(sweep.runs)),
            text=f"{done} of {len(sweep.runs)} runs scored · {counts.get('running', 0)} training · "
            f"{counts.get('queued', 0) + counts.get('pending', 0)} waiting · "
            f"{counts.get('failed', 0)} failed"
            + (f" · stopped ({counts.get('cut-short', 0)} cut short, not scored)" if sweep.stopped else ""),
        )
        if sweep.done and st.session_state.get(f"{key}_shown_done") is not sweep:
            st.session_state[f"{key}_shown_done"] = sweep
            st.rerun(scope="app")

    show()


def budget_text(budget: dict) -> str:
    """'60 s' for a wall-clock budget, '5000 steps' for a step budget."""
    if budget.get("seconds"):
        return f"{budget['seconds']:g} s"
    return f"{budget['steps']} steps" if budget.get("steps") else "—"


REFLOW_BUDGET = (  # how the methods table charges reflow, on every target
    "Reflow counts its teacher (half the budget each) and makes its teacher's pairs within its own half (about "
    "half of that at most; the rest trains); the free-teacher row does not count its teacher."
)


def methods_caption(target: Target) -> str:
    """What each row of the methods table held equal on `target`, and how its settings were chosen."""
    if target.dim == PRESET_DIM:
        return (
            f"Every row: the same seeds and wall-clock budget, each run on a core of its own, {tuning_sentence()} "
            "(its network, batch, learning rate and options in its preset) and the pairing in its row. Flow "
            "matching appears with independent pairs and with minibatch OT; the ratio divides a row's one-step TV "
            f"by the better one's at {REFERENCE_NFE} steps. {REFLOW_BUDGET} Tuned on other targets; "
            f"{' and '.join(HELD_OUT_TARGETS)} were used neither for tuning nor for choosing any default."
        )
    return (
        f"Every row: the same seeds and wall-clock budget, each run on a core of its own, the same network "
        f"({cell_network(Cell('', 'meanflow'), target)}, the {literal(target.name)}' own), "
        "unconditional, each method at its defaults (the presets were tuned on 2D targets at 2D sizes and do "
        f"not apply in {target.dim} dimensions) and the pairing in its row. FD is read in the digit classifier's "
        f"features against the held-out images; the ratio divides a row's one-step FD by the better flow "
        f"matching's at {REFERENCE_NFE} steps. {REFLOW_BUDGET} Reflow with a free teacher starts from its "
        "teacher's weights at reflow's default learning rate, which is too high for them here: it can read "
        "worse than reflow at equal compute, with a wide spread over seeds (half the rate does better: "
        "benchmarks/RESULTS.md, 'Every method on the digits')."
    )


def chart_metrics(rows: list[dict], headline: str) -> list[str]:
    """The bar chart's choices: the CHART_METRICS the rows carry among those their table shows (the
    digits' rows carry a 64-D sliced W1 that their table leaves out); all of them where none is carried."""
    shown = {name for row_metrics in ROW_METRICS[headline] for name, _ in row_metrics}
    offered = [m for m in CHART_METRICS if m.split("@")[0] in shown and any(m in r for r in rows)]
    return offered or list(CHART_METRICS)


def study_view(study: Study, target: str, key: str, cells: list[str] | None = None) -> list[dict]:
    """Table, bars, the paper's numbers and pictures for one target; live results when this session has
    them, else the bundled ones. Returns the rows shown."""
    sweep = live_sweep(study, key)
    record = bundled(study.name)
    if sweep is not None and any(r.scores for r in sweep.runs):
        rows, source = sweep.table(), "live"
        note = f"This session's sweep: {len(sweep.runs)} runs."
    elif record is not None:
        rows, source = record["rows"], "bundled"
        budget = record.get("budget", {})
        note = (
            f"Bundled results ({literal(record.get('command') or 'make ablations')}): {record.get('seeds')} seeds, "
            f"{budget_text(budget)} per run."
        )
    else:
        st.info("No results for this study yet: run it live below (or `make ablations`).")
        return []
    rows = [r for r in rows if cells is None or r["cell"] in cells]
    frame = table_frame(rows, target, study)
    if frame.empty:
        st.info(f"No results on {literal(target)} yet.")
        return rows
    mine = [r for r in rows if r["target"] == target]
    headline = rows_headline(mine)
    table = partial(
        study_table,
        frame,
        mine,
        f"{note} Each run scored on n = {EVAL_N:,} samples per step count (its headline), floors at that n.",
        (
            f"{study.name}_{literal(target, 'filename')}.csv",
            lambda: table_csv(rows, target, seed_zero_runs(source, record, sweep, target)),
        ),
        key,
    )
    draws = [table, partial(study_bars, mine, key)]
    if present.presenting():
        draws.reverse()  # the bars first: what a class reads
    for draw in draws:
        draw()
    if any(c.paper is not None for c in study.cells):
        agreement = paper_agreement(mine, study, f"{headline}@1")
        st.markdown(f"**Against the paper** ({literal(study.paper_metric)}): {literal(agreement)}")
    anytime_section(study, target, key, source, record, sweep, cells)
    pictures(study, target, key, source, record, sweep, cells)
    return rows


def study_table(
    frame: pd.DataFrame, mine: list[dict], caption: str, csv: tuple[str, Callable[[], str]], key: str
) -> None:
    """A study's table on one target (frame, from its rows: mine) under its caption, its runaway seeds, and
    its CSV (file name, and the text made when asked for)."""
    st.caption(caption)
    st.dataframe(frame, hide_index=True, width="stretch", column_config=TABLE_COLUMNS)
    runaway_caption(mine)
    st.download_button(
        "Table (CSV)", csv[1], file_name=csv[0], mime="text/csv", key=f"{key}_table_csv", on_click="ignore"
    )


def rows_headline(mine: list[dict]) -> str:
    """A target's headline metric: FD on the digits, histogram TV in 2D."""
    return "fd" if any("fd@1" in r for r in mine) else "hist_tv"


def study_bars(mine: list[dict], key: str) -> None:
    """The bars of one metric (picked here) over a target's rows (mine), with its floor."""
    metric = st.radio(
        "Chart",
        chart_metrics(mine, rows_headline(mine)),
        horizontal=True,
        key=f"{key}_metric",
        format_func=CHART_METRICS.get,
    )
    floor_key = floor_name(metric.split("@")[0])
    floors = [r[floor_key] for r in mine if r.get(floor_key) is not None]
    bars, moved = judged_bars(mine, metric)
    name = CHART_METRICS[metric] + (f" (flow matching at {REFERENCE_NFE})" if moved else "")
    present.chart(
        figures.study_bars(
            bars,
            metric,
            floors[0] if floors else None,
            title=f"{name}: " + seeds_phrase(max(r["seeds"] for r in mine)),
            metric_label=name,
        ),
        key=f"{key}_bars",
        width="stretch",
    )


def anytime_section(
    study: Study,
    target: str,
    key: str,
    source: str,
    record: dict | None,
    sweep: Sweep | None,
    cells: list[str] | None,
) -> None:
    """Quality against training time for each cell (the live sweep's or the bundled record's), where known."""
    curves = (
        anytime_curves(sweep.scored()) if source == "live" and sweep is not None else (record or {}).get("anytime", {})
    )
    charged = charged_curves(curves.get(target, {}), study, whole_seeds=source != "live")  # before choosing cells
    shown = {cell: points for cell, points in charged.items() if (cells is None or cell in cells) and points}
    if not shown:
        return
    seeds = max(point[4] for points in shown.values() for point in points)
    label = "histogram TV" if get_target(target).dim == 2 else "FD (classifier features)"
    family = chart_families(study)
    chart = figures.anytime_chart(
        shown,
        title="Quality while training: " + seeds_phrase(seeds),
        metric_label=label,
        family=family,
        order=tuple(METHODS) if family else (),  # the methods' order only where rows are methods' (else: dashed)
    )
    present.chart(chart, key=f"{key}_anytime", width="stretch")
    live = source == "live" and sweep is not None and sweep.runs
    n = sweep.runs[0].config.preview_n if live else (record or {}).get("preview_n")
    teacher_charged = any(c.name in shown and c.charged_for_teacher for c in study.cells)
    with_fm = any(c.name in shown and c.method == "flow-matching" for c in study.cells)
    st.caption(
        "Each run's previews read at 1/16, 1/8, 1/4, 1/2, 3/4 and all of its budget"
        + (
            f", n = {n:,} points each (the floor at that n)"
            if n
            else ", at the sample size of the runs' previews (the floor at that n), which this study's file, made "
            "before it recorded one, does not give"
        )
        + ("; flow matching's at 32 steps, the others' at one" if with_fm else ", each at one step")
        + "; a point is the mean over the row's seeds (a band: their spread; the finished table's over all of them). "
        + ("One colour per method, a dash per variant. " if family else "")
        + (
            "A row charged for its teacher (reflow at equal compute) is drawn after its teacher's half of the "
            "budget, from its first reading once it has made its teacher's pairs."
            if teacher_charged
            else ""
        )
    )


def pictures(
    study: Study, target: str, key: str, source: str, record: dict | None, sweep: Sweep | None, cells: list[str] | None
) -> None:
    """Samples of each cell (seed 0) at the steps it is judged at (lab.records.picture_samples; a record
    made before it kept 'sample_steps' drew one step), and a link to open a cell's run in Animate."""
    panels, links, steps = {}, {}, {}
    if source == "live" and sweep is not None:
        for run in sweep.runs:
            if run.target == target and run.seed == 0 and run.scores:
                panels[run.cell.name] = picture_samples(load_run(run.path).flow, run.cell.method)
                steps[run.cell.name] = judged_nfe(run.cell.method)
                links[run.cell.name] = run.path.name
    elif record is not None:
        for name, xy in record.get("samples", {}).get(target, {}).items():
            panels[name] = xy
        steps = record.get("sample_steps", {}).get(target, {})
        links = {  # seed 0 of each cell, where `make ablations` bundled it
            name: run_id
            for name, run_id in record.get("runs", {}).get(target, {}).items()
            if (study_runs_dir() / run_id / WEIGHTS_FILE).is_file()
        }
    panels = {name: xy for name, xy in panels.items() if cells is None or name in cells}
    if not panels:
        return
    grid = {
        f"{name}, {steps_label(steps.get(name, 1))}": np.asarray(xy, dtype=np.float32) for name, xy in panels.items()
    }
    shown = get_target(target)
    if points.is_image(shown):  # the digits: a grid of images per cell
        for start in range(0, len(grid), 5):
            for column, (title, x) in zip(st.columns(5), list(grid.items())[start : start + 5]):
                points.show_images(x[:36], shown, title, columns=6, where=column)
    else:
        present.chart(
            # rows of 4 (5 ran together at 800 px), over the target's sketch: also the yardstick that leaves a
            # diverged run's panel out of the shared view (with two cells the median panel could not)
            figures.scatter_grid(
                grid, columns=min(4, len(grid)), reference=points.target_preview(shown, 600), height_per_row=230
            ),
            key=f"{key}_grid",
            width="stretch",
        )
    links = {name: run_id for name, run_id in links.items() if name in panels}
    if links:
        kind = "run" if source == "live" else "study"
        st.caption("Open a cell's seed-0 run in Animate, beside the study's first row, each at its steps above:")
        cols = st.columns(min(4, len(links)))  # four names fit whole at 1,400 px ("Animate …" cut at five)
        names = list(links)
        for i, (name, run_id) in enumerate(links.items()):
            beside = names[1] if name == names[0] and len(names) > 1 else names[0]  # the study's first row
            cols[i % len(cols)].page_link(
                "app_pages/animate.py",
                label=literal(name),
                query_params=animate_pair(
                    f"{kind}:{run_id}", f"{kind}:{links[beside]}", steps.get(name, 1), steps.get(beside, 1)
                ),
                icon=":material/animation:",
                help=f"Opens this cell's run beside the study's {'first' if beside == names[0] else 'second'} "
                f"row ({literal(beside)}), each at the steps of its picture, from the same noise.",
            )


def judged_bars(rows: list[dict], metric: str) -> tuple[list[dict], bool]:
    """The bar chart's rows for `metric`: at a headline's one step ('hist_tv@1', 'fd@1'), a flow-matching
    row stands at the steps it is judged at (its one step is the blur), named so; and whether any did."""
    base, nfe = metric.split("@")
    if nfe != "1" or base not in HEADLINES:
        return rows, False
    out, moved = [], False
    for row in rows:
        own = f"{base}@{judged_nfe(row['method'])}"
        if own != metric and own in row:
            cell = f"{row['cell']}, {steps_label(judged_nfe(row['method']))}"
            row, moved = {**row, "cell": cell, metric: row[own], f"{metric}_std": row.get(f"{own}_std")}, True
        out.append(row)
    return out, moved


def animate_pair(left: str, right: str, left_steps: int = 1, right_steps: int = 1) -> dict[str, str]:
    """Animate's URL settings for two runs side by side (each at one step unless told)."""
    return {
        "anim_left_run": left,
        "anim_right_run": right,
        "anim_left_steps": str(left_steps),
        "anim_right_steps": str(right_steps),
    }
