"""Compare: runs at step counts 1 to 32 with their metrics and floors, or the one-step methods side by side."""

import pandas as pd
import streamlit as st
import torch

from meanflow.core.metrics import floor_name, headline_metric
from meanflow.core.paths import BUNDLED_TARGETS
from meanflow.core.registry import METHODS
from meanflow.core.sampling import sample
from meanflow.core.targets import get_target
from meanflow.core.text import literal, steps_label
from meanflow.lab.guidance import steps_for
from meanflow.lab.scoring import EVAL_N, EVALUATOR_SEED, NFES
from meanflow.lab.studies import EVALUATION_TARGETS, STUDIES, headline_cells
from meanflow.views import figures
from ui import downloads, pickers, points, present, server, settings, studies
from ui.session import RunEntry

NFE = settings.Setting("cmp_nfe", [1, 2, 4, 8, 16, 32], choices=(1, 2, 4, 8, 16, 32), multi=True)
SAMPLES = settings.Setting("cmp_n", 2000, choices=(500, 1000, 2000, 5000, 10000))
SEED = settings.Setting("cmp_seed", 0, lo=0, hi=2**31 - 1, integer=True)
MODE = settings.Setting("cmp_mode", "Methods", choices=("Methods", "Step counts"))  # opens on the fair table
ZOO_TARGETS = (*EVALUATION_TARGETS, "digits")  # the 2D evaluation targets, and the 8x8 digits (64 dimensions)
ZOO_TARGET = settings.Setting("zoo_target", EVALUATION_TARGETS[0], choices=ZOO_TARGETS)
ZOO_METHODS = settings.Setting("zoo_methods", list(METHODS), choices=tuple(METHODS), multi=True)
ZOO_NFE = settings.Setting("zoo_nfe", [1, 2, 4, 32], choices=(1, 2, 4, 8, 16, 32), multi=True)
IMAGES_PER_CELL = 36  # generated images shown per run and step count (image targets)
MAX_RUNS = 6  # runs compared at once: each adds a grid of up to 6 panels
METRICS = {  # the chart's choices, the target's headline first (TV in 2D, FD on the digits)
    "hist_tv": "Histogram TV (local)",
    "fd": "FD (digit classifier's features)",
    "sliced_w1": "Sliced W1 (global)",
    "in_support": "Fraction in cells",
    "confident": "Recognised (confidence >= 0.9)",
    "coverage_tv": "Coverage TV (recognised digits)",
    "class_accuracy": "Class accuracy",
}


@st.cache_data(show_spinner="Sampling and scoring…", max_entries=32)
def quality_table(
    _entries,
    keys: tuple[str, ...],
    nfes: tuple[int, ...],
    n: int,
    seed: int,
    label: int | None = None,
    guidance: float = 1.0,
    label_target: str | None = None,
):
    """Samples (run key, nfe) -> (n, 2) and a table of metrics; cached by run keys and settings.

    The samples are drawn from a generator of `seed`, the reference and floors from EVALUATOR_SEED + seed:
    at n = EVAL_N and a run's own seed, a cell reads the run's headline (lab.scoring.headline). Class-
    conditional runs on `label_target` sample class `label` (None: all classes) with sampling-time guidance
    `guidance`, two evaluations per step, so an NFE of k is k / 2 steps (odd NFE: no cell); they get class
    and guidance columns, and with one class chosen its class accuracy in place of the whole target's
    metrics (which would count the other classes' absence)."""
    rows, samples = [], {}
    for entry in _entries:
        saved = pickers.load(entry)
        evaluator = pickers.evaluator_for(entry, saved.target, n, EVALUATOR_SEED + seed)
        conditional = bool(saved.flow.classes)
        own_label = label if conditional and saved.target.name == label_target else None
        for k in nfes:
            steps = steps_for(k, guidance) if conditional else k
            if steps is None:
                continue
            x = sample(
                saved.flow, n, steps, torch.Generator().manual_seed(seed), label=own_label, guidance=guidance
            ).samples
            samples[(entry.key, k)] = x
            row = {"run": entry.label, "run id": entry.id, "method": entry.method, "target": entry.target_name}
            row.update({"nfe": k, "sampling seed": seed})
            if conditional:
                row.update({"class": "all" if own_label is None else str(own_label), "guidance": guidance})
            if own_label is None:
                row.update(evaluator.score(x).to_dict())
            else:
                row["n"] = n
                row["class_accuracy"] = pickers.class_evaluator_for(entry.key, saved.target).score({own_label: x})[
                    "accuracy"
                ]
            rows.append(row)
    return pd.DataFrame(rows), samples


def methods_mode() -> None:
    """The method zoo on one target: the study table (mean ± std over seeds), bars, a grid of samples
    per method x NFE and quality against NFE, from the bundled runs (or this session's live sweep)."""
    study = STUDIES["methods"]
    with present.controls():  # a row each: eight method chips, and step chips, stay readable on a narrow page
        target = settings.segmented("Target", ZOO_TARGET) or EVALUATION_TARGETS[0]
        chosen = settings.multiselect("Methods", ZOO_METHODS, format_func=lambda m: METHODS[m].about.label)
        nfes = tuple(sorted(settings.pills("Steps (NFE)", ZOO_NFE)))
    if not chosen or not nfes:
        st.info("Pick at least one method and one step count.")
        return
    labels = [c.name for c in study.cells if c.method in chosen]  # every row of the chosen methods
    st.caption(studies.methods_caption(get_target(target)))
    studies.study_view(study, target, key="cmp", cells=labels)
    grid_and_chart(chosen, target, nfes)
    st.subheader("Run the comparison yourself")
    studies.run_live_controls(study, [get_target(target)], key="cmp", cells=labels)
    studies.progress(study, key="cmp")


def zoo_runs(chosen: list[str], target: str) -> dict[str, RunEntry]:
    """A row of the methods table -> a run to sample, for each chosen method's headline row (lab.studies.
    headline_cells): seed 0 of this session's live sweep, else the row's bundled pretrained run."""
    cells = {m: c for m, c in headline_cells(STUDIES["methods"]).items() if m in chosen}
    sweep = studies.live_sweep(STUDIES["methods"], "cmp")
    found = {}
    if sweep is not None:
        for run in sweep.runs:
            if run.target == target and run.seed == 0 and run.scores and run.cell in cells.values():
                found[run.cell.name] = server.open_session().open(run.path.name)
    bundled = {entry.id: entry for entry in server.open_session().bundled()}
    for cell in cells.values():
        entry = bundled.get(f"{cell.bundle}-{target}")
        if cell.name not in found and entry is not None and not entry.config.classes:
            found[cell.name] = entry
    return {c.name: found[c.name] for c in cells.values() if found.get(c.name) is not None}


def grid_and_chart(chosen: list[str], target: str, nfes: tuple[int, ...]) -> None:
    runs = zoo_runs(chosen, target)
    if not runs:
        st.info(
            f"No unconditional run of these methods on {literal(target)} to sample at other step counts: the "
            f"methods' bundled runs are on {', '.join(BUNDLED_TARGETS)} only (a small bundle), and the pictures "
            "above are each row's one-step samples. Run the comparison yourself below for grids at every step count."
        )
        return
    entries = list(runs.values())
    table, samples = quality_table(entries, tuple(e.key for e in entries), nfes, 2000, 0)
    row_of = {entry.id: name for name, entry in runs.items()}
    table = table.assign(run=[row_of[i] for i in table["run id"]])
    shown = pickers.load(entries[0]).target
    metric = headline_metric(shown)
    if shown.dim != 2:  # the digits: a row of image grids per method
        sample_grids(entries, nfes, samples)
    else:
        scatter_panels(runs, nfes, samples)
    family = {name: entry.method for name, entry in runs.items()}
    chart = figures.quality_chart(
        table, metric, floor_name(metric), label=METRICS[metric], family=family, order=tuple(METHODS)
    )
    present.chart(chart, key="zoo_chart", width="stretch")
    st.caption(
        "Samples and the chart: each method's run named by its row of the table (seed 0: this session's sweep "
        f"where it has one, else the bundled run), 2,000 samples per cell, at the steps chosen above; the table "
        f"is the mean over seeds at n = {EVAL_N:,}, at the study's {', '.join(map(str, NFES))} steps whatever is "
        "chosen. The dashed floor is one exact sample's score at n = 2,000: a sampler as good as the target reads "
        "about it, a little above or below by chance."
    )


def scatter_panels(runs: dict[str, RunEntry], nfes: tuple[int, ...], samples: dict) -> None:
    """One panel per method and step count, every method's row under the last (2D targets); runs: a row of
    the methods table -> its run."""
    grid = {f"{name}, {steps_label(k)}": samples[(e.key, k)] for name, e in runs.items() for k in nfes}
    reference = points.target_preview(pickers.load(next(iter(runs.values()))).target, 600)
    present.chart(
        figures.scatter_grid(grid, columns=len(nfes), reference=reference, height_per_row=220),
        key="zoo_grid",
        width="stretch",
    )


def step_count_settings(runs: list[RunEntry]) -> tuple[list[RunEntry], tuple[int, ...], int, int] | None:
    """The runs, step counts, samples per cell and seed to compare; None (with a message) when there is
    nothing to draw or it would be more than a page may draw."""
    by_key = {r.key: r for r in runs}
    run_choices = settings.Setting(
        "cmp_runs", [r.key for r in runs if r.target_name == runs[0].target_name][:2], choices=tuple(by_key), multi=True
    )
    settings.initialise(run_choices)
    st.session_state.cmp_runs = [k for k in st.session_state.cmp_runs if k in by_key]  # runs may have gone
    keys = settings.multiselect("Runs", run_choices, format_func=lambda k: by_key[k].label, max_selections=MAX_RUNS)
    c1, c2, c3 = st.columns(3)
    nfes = settings.pills("Steps (NFE)", NFE, where=c1)
    n = settings.select_slider("Samples per cell", SAMPLES, where=c2)
    seed = settings.number("Seed", SEED, where=c3)
    if not keys or not nfes:
        st.info("Pick at least one run and one step count.")
        return None
    entries = [by_key[k] for k in keys[:MAX_RUNS]]
    nfes = tuple(sorted(set(nfes)))
    points = len(entries) * len(nfes) * int(n)
    if points > server.page_points():
        st.warning(
            f"This comparison would sample and draw {points:,} points (runs × step counts × samples); this "
            f"server draws at most {server.page_points():,} per page. Choose fewer samples per cell, step "
            "counts or runs."
        )
        return None
    return entries, nfes, int(n), int(seed)


def sample_grids(entries: list[RunEntry], nfes: tuple[int, ...], samples: dict) -> None:
    """Each run's samples at each step count, a row of panels per run (image targets: a grid of images each),
    over a light sketch of the run's own target (the first run's was drawn under every row: a checkerboard
    under the moons, the digits' 64 coordinates read as points under both)."""
    for entry in entries:
        st.markdown(f"**{literal(entry.label)}**")
        grid = {f"NFE {k}": samples[(entry.key, k)] for k in nfes if (entry.key, k) in samples}
        if not grid:
            continue
        target = pickers.load(entry).target
        if target.dim != 2:
            columns = st.columns(len(grid))
            for column, (title, x) in zip(columns, grid.items()):
                if points.is_image(target):
                    points.show_images(x[:IMAGES_PER_CELL], target, title, columns=6, where=column)
                else:
                    column.caption(f"{title}: {target.dim} dimensions; see the metrics below")
            continue
        reference = points.target_preview(target, 600)
        fig = figures.scatter_grid(grid, columns=len(nfes), reference=reference, height_per_row=240)
        present.chart(fig, key=f"grid_{entry.key}", width="stretch")
        downloads.figure_html(fig, f"samples_{entry.method}_{entry.target_name}", key=f"html_{entry.key}")


def whole_target_caption(table: pd.DataFrame) -> None:
    """What the whole-target metrics and their floors read, at the table's n."""
    st.caption(
        "Each metric compares the samples with a large exact sample of the target; its floor is the same "
        f"metric for an exact sample of the same size, n = {int(table['n'].iloc[0]):,} per cell here: one "
        "draw of it, so a sampler as good as the target reads about its floor, a little above or below by chance. "
        "Sliced W1 is global and ranks a blurred sampler above a sharp but shrunk one; "
        "histogram TV and the in-cells fraction catch blur (on the digits: FD in the classifier's features "
        "against the held-out images, the recognised share and coverage; memorised: the share closer to a "
        "training image than training images are to each other). Read them together. A run's headline number (Home, "
        f"Animate) is its score at n = {EVAL_N:,} with its own seed as the sampling seed: set both here and a cell "
        "reads it exactly; another n or seed reads a little differently. The methods table is the mean over a "
        "row's seeds."
    )


def column_label(column: str) -> str:
    """A metrics column as the table heads it ('hist_tv_floor' -> 'Histogram TV (local) floor'); the CSV
    keeps the names."""
    base = column.removesuffix("_floor")
    return METRICS.get(base, column) + (" floor" if column != base and base in METRICS else "")


def metrics_section(table: pd.DataFrame) -> None:
    """A chart of one metric against NFE with its floor, the metrics table with floors, and the table as CSV."""
    st.subheader("Metrics")
    table = table.dropna(axis=1, how="all")  # no column that does not apply (in cells, for a target without cells)
    if not any(c.endswith("_floor") for c in table.columns):  # one class chosen: no whole-target metric
        st.caption(
            "One class chosen: each cell is scored by its class accuracy, the share of its n = "
            f"{int(table['n'].iloc[0]):,} samples that land in that class (in 2D, the class of the nearest point "
            "of a labelled exact sample; on the digits, the class the digit classifier reads). The whole-target "
            "metrics and their floors do not apply to one class's samples."
        )
    else:
        whole_target_caption(table)
    available = [m for m in METRICS if m in table and table[m].notna().any()]
    metric = st.radio("Chart", available, format_func=METRICS.get, horizontal=True, key="cmp_metric")
    chart = figures.quality_chart(table, metric, f"{metric}_floor", label=METRICS[metric])
    present.chart(chart, key="quality_chart", width="stretch")  # first: what a class reads, then the numbers
    by_target = {t: table[table["target"] == t].dropna(axis=1, how="all") for t in dict.fromkeys(table["target"])}
    for target, own in by_target.items():  # a table per target: only the columns its target has
        if len(by_target) > 1:
            st.markdown(f"**{literal(target)}**")
        decimals = [c for c in own.columns if own[c].dtype.kind == "f" and c != "guidance"]
        column_config = {c: st.column_config.NumberColumn(column_label(c), format="%.3f") for c in decimals}
        column_config["run"] = st.column_config.TextColumn("run", pinned=True)  # in view beside the metrics
        column_config["nfe"] = st.column_config.NumberColumn("steps (NFE)")
        st.dataframe(own, width="stretch", hide_index=True, column_config=column_config)
    columns = st.columns(min(4, len(by_target)))
    for i, (target, own) in enumerate(by_target.items()):  # and a file per target
        columns[i % len(columns)].download_button(
            "Metrics (CSV)" if len(by_target) == 1 else f"Metrics on {literal(target)} (CSV)",
            own.to_csv(index=False).encode(),
            file_name="metrics.csv" if len(by_target) == 1 else f"metrics_{literal(target, 'filename')}.csv",
            mime="text/csv",
            key="metrics_csv" if i == 0 else f"metrics_csv_{i}",
            on_click="ignore",
        )


def step_counts_mode() -> None:
    """Runs at step counts 1 to 32: samples, metrics and floors."""
    with present.controls():
        chosen = step_count_settings(pickers.ready_runs())
        if chosen is None:
            return
        entries, nfes, n, seed = chosen
        conditional = next((e.target_name for e in entries if e.config.classes), None)
        label, guidance = (
            pickers.class_controls(pickers.load(next(e for e in entries if e.target_name == conditional)).target, "cmp")
            if conditional is not None
            else (None, 1.0)
        )
    table, samples = quality_table(entries, tuple(e.key for e in entries), nfes, n, seed, label, guidance, conditional)
    if table.empty:
        st.info("With guidance every step takes two evaluations: pick an even step count (NFE).")
        return
    odd = [k for k in nfes if steps_for(k, guidance) is None]
    if conditional is not None and odd:
        st.caption(
            f"NFE {', '.join(map(str, odd))}: no cell for the class-conditional runs: with guidance every step takes "
            "two evaluations, so an odd count has no sampler."
        )
    sample_grids(entries, nfes, samples)
    metrics_section(table)


def main() -> None:
    st.title("Compare")
    if settings.radio("Compare", MODE, horizontal=True, label_visibility="collapsed") == "Methods":
        methods_mode()
    else:
        step_counts_mode()


main()
