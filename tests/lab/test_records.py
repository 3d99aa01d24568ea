"""A study record with another target's rows added: the digits' ablations beside the 2D ones."""

from meanflow.lab.records import merged_record


def record(targets, command, value):
    return {
        "format": "meanflow-study",
        "command": command,
        "targets": list(targets),
        "rows": [{"target": t, "cell": "a", "hist_tv@1": value} for t in targets],
        "samples": {t: {"a": [[value] * 2]} for t in targets},
        "runs": {t: {"a": f"run-{t}-{value}"} for t in targets},
        "anytime": {t: {"a": [[1.0, 1.0, value, 0.0, 3, 0.1]]} for t in targets},
    }


def test_added_targets_join_the_table_and_a_second_add_replaces_them():
    two_d = record(["checkerboard", "spiral"], "make ablations", 0.1)
    both = merged_record(two_d, record(["digits"], "--targets digits --add", 5.0))
    assert both["targets"] == ["checkerboard", "spiral", "digits"]
    assert [r["target"] for r in both["rows"]] == ["checkerboard", "spiral", "digits"]
    assert set(both["runs"]) == set(both["samples"]) == set(both["anytime"]) == {"checkerboard", "spiral", "digits"}
    assert both["command"] == "make ablations; --targets digits --add"
    again = merged_record(both, record(["digits"], "--targets digits --add", 6.0))
    assert [r["hist_tv@1"] for r in again["rows"]] == [0.1, 0.1, 6.0]
    assert again["runs"]["digits"]["a"] == "run-digits-6.0" and again["runs"]["spiral"] == two_d["runs"]["spiral"]
    assert again["command"] == both["command"]


def test_the_guidance_rows_of_added_targets_join_the_others_instead_of_replacing_them():
    flat = {**record(["8gaussians", "moons"], "make guidance", 0.1), "guidance": [{"target": "8gaussians", "nfe": 1}]}
    flat["guidance"].append({"target": "moons", "nfe": 1})
    digits = {**record(["digits"], "--targets digits --add", 5.0), "guidance": [{"target": "digits", "nfe": 1}]}
    both = merged_record(flat, digits)
    assert [r["target"] for r in both["guidance"]] == ["8gaussians", "moons", "digits"]
    again = merged_record(both, {**digits, "guidance": [{"target": "digits", "nfe": 2}]})
    assert [(r["target"], r["nfe"]) for r in again["guidance"]] == [("8gaussians", 1), ("moons", 1), ("digits", 2)]
    flat_again = merged_record(
        again, {**record(["8gaussians"], "make guidance", 0.2), "guidance": [{"target": "8gaussians", "nfe": 3}]}
    )
    assert [(r["target"], r["nfe"]) for r in flat_again["guidance"]] == [("8gaussians", 3), ("moons", 1), ("digits", 2)]


def test_a_target_swept_again_keeps_its_place_so_the_pages_open_where_they_did():
    """The 2D comparison rerun with --add beside the digits: checkerboard stays the first target (the
    Ablations and Compare pages open on it) and its rows come first again."""
    both = merged_record(record(["checkerboard", "spiral"], "2D", 0.1), record(["digits"], "--add", 5.0))
    again = merged_record(both, record(["checkerboard", "spiral"], "2D --add", 0.2))
    assert again["targets"] == ["checkerboard", "spiral", "digits"]
    assert again["command"] == "2D; --add"  # the 2D command again, with --add, is not listed twice
    assert [(r["target"], r["hist_tv@1"]) for r in again["rows"]] == [
        ("checkerboard", 0.2),
        ("spiral", 0.2),
        ("digits", 5.0),
    ]


def test_rows_rerun_alone_keep_the_curves_of_the_rows_whose_runs_were_kept():
    """Two rows of the digits rerun (their run folders deleted, the others' kept and only rescored, so the
    sweep read previews of the rerun rows alone): the kept rows' anytime curves stay, the rerun rows' are new,
    and a row no longer in the table is not carried over."""
    old = record(["digits"], "digits", 5.0)
    old["rows"] += [{"target": "digits", "cell": "b", "fd@1": 7.0}, {"target": "digits", "cell": "gone", "fd@1": 1}]
    old["anytime"]["digits"].update(b=[[1.0, 60.0, 7.0, 5.4, 3, 0.1]], gone=[[1.0, 60.0, 1.0, 5.4, 3, 0.1]])
    new = record(["digits"], "digits --add", 6.0)  # row "a" rerun: a new curve
    new["rows"].append({"target": "digits", "cell": "b", "fd@1": 7.0})  # row "b" kept: rescored, no curve
    merged = merged_record(old, new)
    assert merged["anytime"]["digits"] == {"a": new["anytime"]["digits"]["a"], "b": old["anytime"]["digits"]["b"]}
