"""Studies and sweeps: a tiny sweep end to end, stop and resume, and the bundled tables the pages open on."""

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from meanflow.core import runs
from meanflow.core.paths import assets_dir, pretrained_dir, study_runs_dir
from meanflow.core.registry import make_config
from meanflow.core.runs import load_run
from meanflow.core.targets import get_target
from meanflow.lab.records import load_study
from meanflow.lab.scoring import EVAL_N, headline
from meanflow.lab.studies import STUDIES, chart_families, get_study, headline_cells
from meanflow.lab.sweeps import ANYTIME_MARKS, Budget, Sweep
from meanflow.lab.tables import (
    SAMPLE_SIZE_LINE,
    RunawaySeed,
    ScoredRun,
    anytime_curves,
    charged_curves,
    format_table,
    runaway_seeds,
    with_reference,
)
from meanflow.views.demo import DEMO_FILE, read_demo
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_study_opens_on_a_bundled_table_of_its_cells_over_three_seeds(name):
    record = load_study(assets_dir() / "studies" / f"{name}.json")
    assert record is not None, f"assets/studies/{name}.json missing: `make ablations` (or `make assets`) makes it"
    study = STUDIES[name]
    assert record["study"] == name and record["seeds"] >= 3
    for target in record["targets"]:
        rows = [r for r in record["rows"] if r["target"] == target]
        assert {r["cell"] for r in rows} == {c.name for c in study.cells}, target
        headline = "fd" if target == "digits" else "hist_tv"  # the digits are scored by their classifier's FD
        assert all(r["seeds"] >= 3 and len(r[f"{headline}@1_seeds"]) == r["seeds"] for r in rows)
        curves = record.get("anytime", {}).get(target)  # where a target has anytime curves, every row has one
        assert curves is None or set(curves) == {c.name for c in study.cells}, (target, sorted(curves or ()))
    if name == "guidance":  # the Guidance page's table over seeds, for every target of the study
        assert {r["target"] for r in record["guidance"]} == set(record["targets"])
    if name not in ("methods", "guidance"):  # an ablation's cells open in Animate from their bundled seed-0 run
        said = {(r["target"], r["cell"]): r.get("network") for r in record["rows"]}
        for target, cells in record["runs"].items():
            assert set(cells) == {c.name for c in study.cells}
            for cell, run_id in cells.items():
                info = runs.read_info(study_runs_dir() / run_id)
                assert info.target_name == target and info.trained_to_budget
                assert (info.path / runs.WEIGHTS_FILE).is_file()
                c = info.config  # the table's network column is the network the run trained
                assert said[(target, cell)] in (None, f"{c.hidden} x {c.depth}, batch {c.batch}"), (target, cell)


def test_a_study_record_that_is_not_ours_is_refused(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"format": "something else", "rows": []}))
    (tmp_path / "y.json").write_text("{not json")
    for name in ("x.json", "y.json"):
        with pytest.raises(ValueError):
            load_study(tmp_path / name)
    assert load_study(tmp_path / "missing.json") is None


def _sweep_command(out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "meanflow",
        "sweep",
        "--study",
        "time-sampler",  # two cells
        "--targets",
        "moons",
        "--seeds",
        "2",
        "--steps",
        "40",
        "--json",
        "--out",
        str(out),
    ]


@pytest.mark.slow
def test_a_tiny_sweep_tabulates_every_cell_over_seeds_and_a_rerun_trains_nothing(tmp_path):
    """2 cells x 2 seeds x 40 steps on the local engine, through the CLI: a row per cell with every seed's
    values and the floors, four runs in the library; the same command again scores them without training."""
    env = {**os.environ, "MEANFLOW_MAX_JOBS": "2"}
    first = subprocess.run(_sweep_command(tmp_path), capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert first.returncode == 0, first.stderr[-2000:]
    rows = json.loads(first.stdout)
    assert [r["cell"] for r in rows] == [c.name for c in get_study("time-sampler").cells]
    for row in rows:
        assert row["target"] == "moons" and row["seeds"] == 2 and row["steps"] == 40
        assert row["seed_order"] == [0, 1]  # which seed each of the '_seeds' values is
        for nfe in (1, 2):
            assert len(row[f"hist_tv@{nfe}_seeds"]) == 2 and len(row[f"sliced_w1@{nfe}_seeds"]) == 2
            assert row[f"hist_tv@{nfe}_std"] >= 0
        assert row["hist_tv_floor"] > 0 and row["sliced_w1_floor"] > 0
    folders = sorted(p for p in tmp_path.iterdir() if p.name.startswith("sweep-"))
    assert len(folders) == 4 and all((p / "weights.safetensors").is_file() for p in folders)
    written = {p: (p / "weights.safetensors").stat().st_mtime_ns for p in folders}

    again = subprocess.run(_sweep_command(tmp_path), capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {p: (p / "weights.safetensors").stat().st_mtime_ns for p in folders} == written  # nothing retrained
    assert [r["hist_tv@1_seeds"] for r in json.loads(again.stdout)] == [r["hist_tv@1_seeds"] for r in rows]
    one = _sweep_command(tmp_path)
    one[one.index("--seeds") + 1] = "1"  # one seed: no spread, written as null (a bare NaN is not JSON)
    single = subprocess.run(one, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert single.returncode == 0, single.stderr[-2000:]
    strict = json.loads(single.stdout, parse_constant=lambda name: pytest.fail(f"{name} in --json output"))
    assert all(r["hist_tv@1_std"] is None for r in strict)


@pytest.mark.slow
def test_a_stopped_sweep_keeps_its_finished_cells_and_a_rerun_trains_only_the_rest(engine, tmp_path, tiny_config):
    """One worker, two cells of a 4 s budget: the first ends on its budget and is scored; stopping the
    sweep cuts the second short (not scored, nothing more submitted); a new sweep on the same folder
    skips the first and trains the second again."""
    study, moons = get_study("time-sampler"), get_target("moons")
    base = replace(tiny_config, steps=10**6)
    budget = Budget(seconds=4.0)

    def new_sweep():
        return Sweep(study, [moons], 1, budget, engine, tmp_path, base=base, max_active=1)

    sweep = new_sweep()
    first, second = sweep.runs

    def pumped(predicate):
        def check():
            sweep.pump()
            return predicate()

        return check

    wait_until(pumped(lambda: second.stage == "running"), 120, "the second cell to start")
    assert first.stage == "scored" and first.scores[1]["hist_tv"] > 0
    sweep.stop()
    wait_until(pumped(lambda: sweep.done), 60, "the stopped sweep to end")
    assert second.stage == "cut-short" and not second.scores
    sweep.pump()
    assert engine.jobs() == []  # a stopped sweep submits nothing more
    rows = sweep.table()
    assert [r["seeds"] for r in rows] == [1, 0]
    kept = (first.path / "weights.safetensors").stat().st_mtime_ns

    sweep = new_sweep()
    wait_until(pumped(lambda: sweep.done), 120, "the rerun to end")
    assert [r.stage for r in sweep.runs] == ["skipped", "scored"]
    assert (first.path / "weights.safetensors").stat().st_mtime_ns == kept
    assert [r["seeds"] for r in sweep.table()] == [1, 1]


@pytest.mark.parametrize("target", ["checkerboard", "moons", "spiral"])
def test_homes_numbers_are_the_methods_tables_for_the_same_run(target):
    """A run's headline is the same wherever it appears: Home's one-step TV of the bundled MeanFlow run is
    the methods table's seed-0 value (both n = EVAL_N), and Home says its n."""
    demo = read_demo(assets_dir() / DEMO_FILE, target)
    record = load_study(assets_dir() / "studies" / "methods.json")
    row = next(r for r in record["rows"] if r["target"] == target and r["method"] == "meanflow")
    tv, _, n = demo["scores"]["MeanFlow, 1 step"]
    assert n == EVAL_N
    assert tv == pytest.approx(row["hist_tv@1_seeds"][0], abs=1e-9)
    assert headline(load_run(pretrained_dir() / f"meanflow-{target}").flow, get_target(target), 1, 0).hist_tv == (
        pytest.approx(tv, abs=1e-9)
    )


def test_a_sweep_traces_quality_at_the_budget_marks_once_each():
    """Previews read into the trace when a run passes the next mark; marks passed between two looks are
    skipped; the same preview is never read twice; the curves average the seeds per mark."""
    target = get_target("moons")
    sweep = Sweep(get_study("time-sampler"), [target], 2, Budget(seconds=8.0), engine=None, root="/nonexistent")
    run = sweep.runs[0]
    preview = target.sample(500, torch.Generator().manual_seed(0)).numpy()
    for step, progress in ((10, 0.01), (20, 0.07), (20, 0.08), (30, 0.3), (40, 0.32), (50, 1.0)):
        sweep._trace(run, SimpleNamespace(preview=preview, preview_step=step, progress=progress, elapsed=8 * progress))
    assert [m for m, *_ in run.trace] == [ANYTIME_MARKS[0], ANYTIME_MARKS[2], 1.0]  # 1/8 skipped, 1/4 once
    assert all(0 <= tv <= 1 and floor > 0 for *_, tv, floor in run.trace)
    other = [(m, s, tv + 0.1, f) for m, s, tv, f in run.trace]
    curves = anytime_curves(
        [ScoredRun(run.cell, "moons", 0, {}, tuple(run.trace)), ScoredRun(run.cell, "moons", 1, {}, tuple(other))]
    )
    points = curves["moons"][run.cell.name]
    assert [p[0] for p in points] == [m for m, *_ in run.trace] and all(p[4] == 2 for p in points)
    assert points[0][2] == pytest.approx(run.trace[0][2] + 0.05)


def test_the_chart_charges_reflow_its_teacher_and_averages_only_whole_seeds():
    """Reflow at equal compute's line starts where its teacher's half ends (its seconds plus the teacher's);
    the free-teacher row's does not move; a point read on fewer seeds than the row's others is left out."""
    study = STUDIES["methods"]
    equal = next(c for c in study.cells if c.method == "reflow" and c.budget_share < 1)
    free = next(c for c in study.cells if c.method == "reflow" and c.budget_share == 1)
    curves = {
        equal.teacher: [[0.5, 15.0, 0.3, 0.0, 3, 0.05], [1.0, 30.0, 0.2, 0.0, 3, 0.05]],
        equal.name: [
            [0.0625, 1.9, 0.9, math.nan, 1, 0.05],
            [0.5, 15.0, 0.25, 0.01, 3, 0.05],
            [1.0, 30.0, 0.2, 0.01, 3, 0.05],
        ],
        free.name: [[1.0, 60.0, 0.1, 0.01, 3, 0.05]],
    }
    shown = charged_curves(curves, study)
    assert [p[1] for p in shown[equal.name]] == [45.0, 60.0]  # the one-seed point is gone, the rest moved
    assert [p[1] for p in shown[free.name]] == [60.0] and shown[equal.teacher] == curves[equal.teacher]
    live = charged_curves(curves | {"a cell with no reading yet": []}, study, whole_seeds=False)
    assert [p[1] for p in live[equal.name]] == [31.9, 45.0, 60.0] and live["a cell with no reading yet"] == []


def test_a_method_keeps_its_colour_only_where_a_study_compares_methods():
    """The methods study's rows share their method's colour (its headline row is the bundled one); a study of
    MeanFlow's own settings gives each row a colour of its own."""
    methods = STUDIES["methods"]
    families = chart_families(methods)
    assert families["Flow matching, independent"] == families["Flow matching, minibatch OT"] == "flow-matching"
    assert chart_families(STUDIES["tangent"]) == {}
    heads = headline_cells(methods)
    assert set(heads) == {c.method for c in methods.cells} and heads["reflow"].budget_share < 1
    assert heads["flow-matching"].budget_share == 1.0


def test_each_row_is_divided_by_the_better_flow_matching_at_32_steps():
    rows = [
        {"method": "meanflow", "target": "moons", "hist_tv@1": 0.12},
        {"method": "flow-matching", "target": "moons", "hist_tv@1": 0.98, "hist_tv@32": 0.10, "budget_share": 1.0},
        {"method": "flow-matching", "target": "moons", "hist_tv@32": 0.08, "budget_share": 1.0},
        {"method": "flow-matching", "target": "moons", "hist_tv@32": 0.01, "budget_share": 0.5},  # a teacher
        {"method": "meanflow", "target": "spiral", "hist_tv@1": 0.2},  # no flow matching there
    ]
    out = with_reference(rows)
    assert out[0]["fm32_reference"] == 0.08 and out[0]["hist_tv@1_over_fm32"] == pytest.approx(1.5)
    assert "fm32_reference" not in out[4]
    # a NaN or a row without a target is no reference (a NaN made every ratio 0.00; a missing target raised)
    nan = {"method": "flow-matching", "target": "moons", "hist_tv@32": math.nan}
    odd = [dict(rows[0]), nan, dict(rows[2]), {"method": "flow-matching", "hist_tv@32": 0.01}]
    assert with_reference(odd)[0]["hist_tv@1_over_fm32"] == pytest.approx(1.5)
    # flow matching is judged at its 32 steps, in the record (and so in the CSV) as on the page
    assert out[1]["hist_tv@32_over_fm32"] == pytest.approx(1.25) and "hist_tv@1_over_fm32" not in out[1]


def test_a_records_budget_is_a_whole_runs_not_its_first_cells_share():
    """A step-budget study whose first run is reflow's (half the budget: its teacher has the other half)
    stored 500 steps for a budget of 1,000; a live rerun opens at the stored size."""
    from meanflow.lab.records import study_record

    cells = ["Reflow (2-rectified flow)", "Flow matching, reflow's teacher"]
    sweep = Sweep(
        get_study("methods"), [get_target("moons")], 1, Budget(seconds=None, steps=1000), None, "/x", cells=cells
    )
    assert sweep.runs[0].config.steps == 500
    assert study_record(sweep)["budget"] == {"seconds": None, "steps": 1000}


def test_a_seed_that_ran_away_is_found_and_the_ordinary_spread_is_not():
    rows = [
        {"cell": "MeanFlow", "fd@32_seeds": [6.18, 6.50, 14933985.9], "fd@1_seeds": [7.0, 7.1, 7.2]},
        {"cell": "iCT", "fd@32_seeds": [6.6, float("nan"), 5.9], "hist_tv@1_seeds": [0.1, 0.5, 0.12]},
        {"cell": "two seeds", "fd@32_seeds": [6.0, 1e9]},  # too few to tell which one is odd
        {"cell": "all wild", "fd@32_seeds": [1e9, float("inf"), float("nan")]},  # no ordinary seeds to compare
    ]
    found = runaway_seeds(rows)
    assert found[0] == RunawaySeed("MeanFlow", "fd@32", 14933985.9, (6.18, 6.50), seed=2)
    assert found[1].cell == "iCT" and math.isnan(found[1].value) and found[1].others == (6.6, 5.9)
    assert len(found) == 2  # a 5x spread of TV is no runaway, and neither are the last two rows
    shares = {
        "cell": "tangent",
        "in_support@1_seeds": [0.001, 0.3446, 0.002],
        "memorised@1_seeds": [1e-4, 1e-4, 0.0102],
    }
    assert runaway_seeds([shares]) == []  # bounded shares: a seed far above its others is no runaway
    digits = {"target": "digits", "cell": "MeanFlow", "seeds": 3, "fd@1": 7.1, "fd@32": 4977999.5, **rows[0]}
    text = format_table([digits])
    assert text.endswith(
        "note: digits, MeanFlow, fd@32: seed 2 of 3 reads 1.49e+07 (the others 6.18, 6.5); the mean is that seed's\n\n"
        + SAMPLE_SIZE_LINE
    )


def test_the_methods_rows_keep_their_tuned_presets_in_2d_and_train_defaults_at_the_digits_network():
    """The presets were tuned on 2D targets at 2D sizes: on the digits every row trains its method's
    defaults at the digits' own network (the same for all), and its row says so; in 2D the presets stay."""
    study = STUDIES["methods"]
    sweep = Sweep(study, [get_target("checkerboard"), get_target("digits")], 1, Budget(seconds=60), None, "/x")
    by = {(r.cell.name, r.target): r.config for r in sweep.runs}
    meanflow = next(c for c in study.cells if c.method == "meanflow")
    preset = meanflow.tuned
    assert preset is not None, "the bundled presets are missing"
    flat, digits = by[(meanflow.name, "checkerboard")], by[(meanflow.name, "digits")]
    assert (flat.hidden, flat.depth, flat.lr) == (preset.fields["hidden"], preset.fields["depth"], preset.fields["lr"])
    assert flat.options.r_neq_t == pytest.approx(preset.options["r_neq_t"])
    defaults = make_config("meanflow")
    assert (digits.hidden, digits.depth, digits.dim) == (256, 3, 64)
    assert digits.lr == defaults.lr and digits.options.r_neq_t == defaults.options.r_neq_t
    assert {(c.hidden, c.depth, c.batch) for (_, t), c in by.items() if t == "digits"} == {(256, 3, 256)}
    fm = {by[(c.name, "digits")].coupling for c in study.cells if c.method == "flow-matching"}
    assert fm == {"independent", "minibatch-ot"}  # a row's own change stays
    rows = {(r["cell"], r["target"]): r for r in sweep.table()}
    assert rows[(meanflow.name, "checkerboard")]["tuning"].startswith("tuned")
    assert rows[(meanflow.name, "digits")]["tuning"].startswith("defaults")
    assert rows[(meanflow.name, "digits")]["network"] == "256 x 3, batch 256"


def test_a_printed_table_keeps_whole_cell_names():
    """A sweep's rows may differ only at the end of their names (lever_bench --change): both tables print
    each name whole, so no two rows read alike."""
    base = {"target": "moons", "seeds": 3, "steps": 100.0, "hist_tv@1": 0.1, "hist_tv@1_std": 0.01}
    names = ["MeanFlow, space_frequencies 3", "MeanFlow, space_frequencies 3 + adversarial 0.3"]
    for extra in ({}, {"target": "digits", "fd@1": 1.0}):
        text = format_table([dict(base, cell=name, **extra) for name in names])
        for name in names:
            assert re.search(re.escape(name) + r" +3 ", text), (name, text)


def test_every_bundled_row_states_the_pairing_and_network_its_runs_trained_with():
    """The ablation records were saved before rows stated what they held (a walk found r-neq-t's rows on
    minibatch OT with nothing saying so): loaded, each row states its pairing, network and tuning, and
    they agree with the config of the row's seed-0 run where it is bundled."""
    checked = 0
    for path in sorted((assets_dir() / "studies").glob("*.json")):
        record = load_study(path)
        for row in record["rows"]:
            assert row["pairing"] and row["network"] and row["tuning"], (path.name, row["cell"])
            run_id = record.get("runs", {}).get(row["target"], {}).get(row["cell"])
            folder = next(
                (d / run_id for d in (study_runs_dir(), pretrained_dir()) if run_id and (d / run_id).is_dir()), None
            )
            if folder is None:
                continue
            config = runs.read_info(folder).config
            assert row["network"] == f"{config.hidden} x {config.depth}, batch {config.batch}", (path.name, row)
            assert row["pairing"] in (config.coupling, "its teacher's pairs"), (path.name, row)
            checked += 1
    assert checked >= 70


def test_one_seeds_tables_show_no_spread_rather_than_nan():
    """`bench --guidance --seeds 1` printed '0.903 ± nan' in every row; the other tables leave the spread out."""
    from meanflow.lab.guidance import format_guidance

    nan = float("nan")
    row = dict(target="moons", model="m", nfe=1, seeds=1, accuracy=0.9, accuracy_std=nan, class_tv=0.4)
    text = format_guidance([dict(row, class_tv_std=nan, class_tv_floor=0.05)])
    assert "nan" not in text and "0.900" in text and "0.400" in text
    assert "0.400 ± 0.010" in format_guidance([dict(row, class_tv_std=0.01, class_tv_floor=0.05)])


def test_a_run_whose_scoring_ctrl_c_cut_short_is_scored_at_the_next_look():
    """A sweep interrupted while it scored a finished run dropped that run (its job forgotten, its scores
    never read): the interrupted sweep printed a table of dashes though the run was done on disk."""
    from types import SimpleNamespace

    from meanflow.engine.jobs import Snapshot

    sweep = Sweep(get_study("time-sampler"), [get_target("moons")], 1, Budget(seconds=8.0), engine=None, root="/x")
    done = Snapshot(state="done", step=10, total_steps=10)
    sweep.engine = SimpleNamespace(snapshot=lambda job: done, stop=lambda job: None)
    first = sweep.runs[0]
    first.job = "job"
    calls = []

    def score(path, target, seed):
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return {1: {"hist_tv": 0.2}}

    sweep._scorer = SimpleNamespace(score=score)
    with pytest.raises(KeyboardInterrupt):
        sweep.pump()
    sweep.stop()
    sweep.pump()
    assert first.stage == "scored" and first.scores and first.job is None and sweep.scored_count == 1
