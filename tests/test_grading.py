"""Grading a run against a reference: verdicts, exit codes, physics, report, batch.

Every variant is a real copy of the session's local run, changed with h5py
the way a student's mistake (or a broken upload) would change it.
"""

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib import image

from conftest import REPO, STEPS, student_simulator
from smartgrid_lab import grading
from smartgrid_lab.results import read_series

SPEC = REPO / "scenarios" / "demo.grading.toml"
GRID = REPO / "data" / "grid.json"
NODE_VM = "Series/Grid-0.0-node_b5/Vm"
DATASET = re.compile(r"Series/[\w.\-]+/\w+")


def copy_run(local_run: Path, target: Path) -> Path:
    """A private copy of the local run, so no test changes what others grade."""
    shutil.copytree(local_run, target, ignore=shutil.ignore_patterns("grading"))
    return target


def changed(local_run: Path, target: Path, change) -> Path:
    """A copy of the local run with ``change(h5py.File)`` applied to its HDF5 file."""
    copy_run(local_run, target)
    with h5py.File(target / "demo.hdf5", "r+") as db:
        change(db)
    return target


def cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """The grader as a teacher runs it: a separate process, output as text."""
    done = subprocess.run(
        [sys.executable, "-m", "smartgrid_lab.grading", *map(str, args)],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env=os.environ | {"PYTHONPATH": str(REPO / "src"), "MPLBACKEND": "Agg"},
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def problem_lines(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.startswith("  ")]


def spec_file(tmp_path: Path, text: str = "", loading: str = "") -> Path:
    """A spec of defaults plus ``text``; the grid path is absolute, as the file is in tmp."""
    path = tmp_path / "spec.toml"
    path.write_text(f'[loading]\ngrid = "{GRID}"\n{loading}\n{text}')
    return path


def nudge_vm(volts: float):
    def change(db):
        db[NODE_VM][700] += volts
    return change


# --- Verdicts ---------------------------------------------------------------------

def test_a_run_graded_against_itself_passes(local_run, tmp_path):
    result = grading.grade(str(local_run), str(local_run))
    assert (result.verdict, result.score, result.problems) == ("PASS", 100.0, [])
    assert result.spec.file == SPEC
    assert len(result.rows) == sum(len(a) for a in read_series(local_run / "demo.hdf5").values())
    assert all(row.within and row.max_abs == 0 for row in result.rows)

    done = cli("grade", local_run, local_run, "--report", tmp_path / "report")
    assert done.returncode == 0
    assert done.stdout.startswith("PASS: ")
    assert "score 100.0/100" in done.stdout
    assert problem_lines(done.stdout) == []


def test_run_ids_are_looked_up_in_the_results_folder(local_run):
    done = cli("grade", local_run.name, local_run.name, "--results", local_run.parent,
               "--no-report")
    assert done.returncode == 0, done.stdout
    done = cli("grade", "no-such-run", local_run, "--results", local_run.parent, "--no-report")
    assert done.returncode == 2
    assert done.stdout.startswith("ERROR: run 'no-such-run': no such run directory or file")


def test_a_difference_within_tolerance_passes(local_run, tmp_path):
    run = changed(local_run, tmp_path / "run", nudge_vm(1e-4))  # Vm tolerance: 1e-3 V
    result = grading.grade(str(run), str(local_run))
    assert result.verdict == "PASS"
    assert any("changed after the run" in note for note in result.notes)


def test_one_value_beyond_tolerance_fails_naming_exactly_that_dataset(local_run, tmp_path):
    run = changed(local_run, tmp_path / "run", nudge_vm(0.5))
    result = grading.grade(str(run), str(local_run))
    assert result.verdict == "FAIL"
    assert [p.where for p in result.problems] == [NODE_VM]
    assert 99 < result.score < 100

    done = cli("grade", run, local_run, "--no-report")
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL: ")
    [line] = problem_lines(done.stdout)
    assert line.startswith(f"{NODE_VM}: 1 of {STEPS} steps beyond tolerance; worst at step 700")
    assert "|Δ| 0.5 V > allowed 0.001 V" in line
    assert set(DATASET.findall(done.stdout)) == {NODE_VM}


def drop_pv_power(db):
    del db["Series/PV-0.PV_7/P"]


def drop_house(db):
    del db["Series/Households-0.House_3"]


def halve_house_load(db):
    first_half = db["Series/Households-0.House_3/P_out"][: STEPS // 2]
    del db["Series/Households-0.House_3/P_out"]
    db["Series/Households-0.House_3/P_out"] = first_half


def nan_voltage(db):
    db["Series/Grid-0.0-node_c3/Vm"][100] = np.nan


def add_reactive_pv_power(db):
    db["Series/PV-0.PV_7/Q"] = np.zeros(STEPS)


@pytest.mark.parametrize("change, expected", [
    (drop_pv_power, "Series/PV-0.PV_7/P: dataset missing"),
    (drop_house, "Series/Households-0.House_3: entity missing (reference records P_out)"),
    (halve_house_load, "Series/Households-0.House_3/P_out: shape (720,) (720 values), "
                       "reference has (1440,)"),
    (nan_voltage, "Series/Grid-0.0-node_c3/Vm: 1 NaN or infinite value(s) of 1440, "
                  "first at step 100 (01:40)"),
    (add_reactive_pv_power, "Series/PV-0.PV_7/Q: extra dataset"),
], ids=["missing dataset", "missing entity", "wrong shape", "NaN", "extra dataset"])
def test_broken_datasets_fail_with_one_clear_line(local_run, tmp_path, change, expected):
    run = changed(local_run, tmp_path / "run", change)
    done = cli("grade", run, local_run, "--no-report")
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL: ")
    [line] = problem_lines(done.stdout)
    assert line.startswith(expected)


def test_a_missing_manifest_fails_clearly(local_run, tmp_path):
    run = copy_run(local_run, tmp_path / "run")
    (run / "manifest.json").unlink()
    done = cli("grade", run, local_run, "--no-report")
    assert done.returncode == 1
    assert problem_lines(done.stdout) == [
        f"manifest.json: missing from {run}: the run directory is incomplete"]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).bytes(path.stat().st_size))


def garbage_after_signature(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[8:8192] = np.random.default_rng(2).bytes(8184)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, expected", [
    (truncate, "is truncated: only 2,"),
    (garbage, "is corrupt: no HDF5 signature"),
    (garbage_after_signature, "is corrupt and cannot be read"),
    (lambda path: path.write_bytes(b""), "is empty"),
    (Path.unlink, "no HDF5 file in it"),
], ids=["truncated", "garbage", "damaged header", "empty", "no file"])
def test_an_unreadable_file_is_an_error_not_a_traceback(local_run, tmp_path, damage, expected):
    run = copy_run(local_run, tmp_path / "run")
    damage(run / "demo.hdf5")
    done = cli("grade", run, local_run, "--no-report")
    assert done.returncode == 2
    [line] = done.stdout.splitlines()
    assert line.startswith(f"ERROR: run {'' if damage is Path.unlink else 'file '}{run}")
    assert expected in line
    assert grading.grade(str(run), str(local_run)).verdict == "ERROR"


def test_a_broken_reference_is_an_error_too(local_run, tmp_path):
    ref = copy_run(local_run, tmp_path / "ref")
    truncate(ref / "demo.hdf5")
    done = cli("grade", local_run, ref, "--no-report")
    assert done.returncode == 2
    assert done.stdout.startswith(f"ERROR: reference file {ref / 'demo.hdf5'} is truncated")


# --- Physical rules ------------------------------------------------------------------

def test_buses_outside_the_voltage_band_fail(local_run, tmp_path):
    series = read_series(local_run / "demo.hdf5")
    above = {f"Series/{e}/Vm" for e, pu in grading.per_unit(series).items() if pu.max() > 1.01}
    assert above  # the demo's PV lifts the end of feeder A to about 1.02 p.u.
    spec = spec_file(tmp_path, "[voltage]\nband = [0.99, 1.01]\n")
    result = grading.grade(str(local_run), str(local_run), spec)
    assert result.verdict == "FAIL"
    assert {p.where for p in result.problems} == above
    assert all("leaves the band 0.99–1.01 p.u." in p.message for p in result.problems)


def test_the_transformer_loading_matches_the_grid_design(local_run):
    series = read_series(local_run / "demo.hdf5")
    loading, graded = grading.line_loading(series, series, GRID)
    assert graded == len(loading) == 38  # 37 cables and the transformer
    # data/README.md: the midday reverse flow peaks at about 146 kW, 58 % of 250 kVA
    assert 0.55 < loading["Grid-0.0-transformer"].max() < 0.61
    assert max(v.max() for e, v in loading.items() if "branch" in e) < 0.5


def test_an_overloaded_transformer_fails(local_run, tmp_path):
    spec = spec_file(tmp_path, loading="max = 0.5")
    result = grading.grade(str(local_run), str(local_run), spec)
    assert [p.where for p in result.problems] == ["Series/Grid-0.0-transformer"]
    assert re.match(r"loading up to 5[5-9]\.\d% of its rating at step \d+ \(1[2-4]:\d\d\) "
                    r"\(limit 50%", result.problems[0].message)


def test_too_high_losses_fail_the_energy_balance(local_run, tmp_path):
    spec = spec_file(tmp_path, "[energy]\nmax_loss_share = 0.001\n")
    result = grading.grade(str(local_run), str(local_run), spec)
    [problem] = result.problems
    assert problem.where == "power balance"
    assert re.match(r"losses are \d+\.\d\d kWh, \d\.\d\d% of the", problem.message)


def test_pv_feed_in_off_by_more_than_the_energy_tolerance_fails(local_run, tmp_path):
    def more_sun(db):
        for pv in range(20):
            db[f"Series/PV-0.PV_{pv}/P"][...] = 1.05 * db[f"Series/PV-0.PV_{pv}/P"][()]

    run = changed(local_run, tmp_path / "run", more_sun)
    result = grading.grade(str(run), str(local_run))
    wheres = {p.where for p in result.problems}
    assert "energy: PV feed-in" in wheres
    assert {f"Series/PV-0.PV_{pv}/P" for pv in range(20)} <= wheres


# --- The spec ---------------------------------------------------------------------------

def test_the_demo_spec_picks_the_first_matching_tolerance():
    spec = grading.load_spec(SPEC)
    assert spec.tolerance_for("Grid-0.0-node_a1", "Vm").abs == 1e-3
    assert spec.tolerance_for("Households-0.House_3", "P_out").rel == 1e-3
    assert spec.tolerance_for("Grid-0.0-branch_1", "Q_from").match == "Q*"
    assert spec.tolerance_for("Grid-0.0-node_a1", "Vl") == grading.Tolerance("Vl")
    assert spec.tolerance_for("X", "unknown") is grading.EXACT
    assert spec.band == (0.95, 1.05) and spec.grid_file.resolve() == GRID


@pytest.mark.parametrize("text, expected", [
    ("[voltage]\nbnad = [0.9, 1.1]\n", "unknown key(s) bnad in [voltage]"),
    ("[[tolerance]]\nabs = 1\n", "needs `match`"),
    ("[score\n", "not valid TOML"),
], ids=["typo", "rule without match", "bad TOML"])
def test_a_bad_spec_is_an_error(local_run, tmp_path, text, expected):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    done = cli("grade", local_run, local_run, "--spec", spec, "--no-report")
    assert done.returncode == 2
    assert done.stdout.startswith(f"ERROR: grading spec {spec}: ")
    assert expected in done.stdout


# --- Report ------------------------------------------------------------------------------

def test_the_report_embeds_real_plots_and_lists_the_errors(local_run, tmp_path):
    run = changed(local_run, tmp_path / "run", nudge_vm(0.5))
    done = cli("grade", run, local_run)
    assert done.returncode == 1
    report = run / "grading" / "report.md"
    assert f"report: {report}" in done.stdout
    text = report.read_text()
    assert "**Verdict: FAIL**" in text
    assert f"| `{NODE_VM}` | 0.001 + 0·\\|ref\\| | 0.5 |" in text
    assert "404 of 405 datasets are identical to the reference" in text
    for name in grading.PLOTS:
        assert f"]({name})" in text
        png = report.parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 5_000
        pixels = image.imread(png)
        assert pixels.shape[0] > 300 and pixels.shape[1] > 900
        colours = np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)
        assert len(colours) > 20, f"{name} is nearly blank"


# --- Batch ------------------------------------------------------------------------------

def read_table(path: Path) -> dict[str, dict]:
    with open(path, newline="") as stream:
        return {row["student"]: row for row in csv.DictReader(stream)}


def test_batch_grades_good_slightly_off_and_broken_submissions(local_run, tmp_path):
    submissions = tmp_path / "submissions"
    copy_run(local_run, submissions / "good")
    changed(local_run, submissions / "slightly_off", nudge_vm(0.01))
    truncate(copy_run(local_run, submissions / "broken") / "demo.hdf5")
    done = cli("batch", submissions, "--ref", local_run, "--out", tmp_path / "table.csv")
    assert done.returncode == 0, done.stdout
    table = read_table(tmp_path / "table.csv")
    assert {s: row["verdict"] for s, row in table.items()} == {
        "good": "PASS", "slightly_off": "FAIL", "broken": "ERROR"}
    assert float(table["good"]["score"]) == 100.0
    assert 99 < float(table["slightly_off"]["score"]) < 100
    assert float(table["broken"]["score"]) == 0.0
    assert table["slightly_off"]["problems"] == "1"
    assert table["slightly_off"]["first_problem"].startswith(NODE_VM)
    assert "is truncated" in table["broken"]["first_problem"]
    assert [line.split()[:2] for line in done.stdout.splitlines()[1:4]] == [
        ["broken", "ERROR"], ["good", "PASS"], ["slightly_off", "FAIL"]]
    assert (submissions / "slightly_off" / "grading" / "voltages.png").is_file()


def test_a_hanging_submission_times_out_and_the_batch_goes_on(local_run, tmp_path):
    submissions = tmp_path / "submissions"
    stuck = copy_run(local_run, submissions / "a_stuck")
    fifo = stuck / "pv7.raw"
    os.mkfifo(fifo)  # reading it blocks until someone writes: forever

    def store_pv7_outside(db):
        del db["Series/PV-0.PV_7/P"]
        db.create_dataset("Series/PV-0.PV_7/P", shape=(STEPS,), dtype="f8",
                          external=[(str(fifo), 0, h5py.h5f.UNLIMITED)])

    with h5py.File(stuck / "demo.hdf5", "r+") as db:
        store_pv7_outside(db)
    copy_run(local_run, submissions / "b_good")
    done = cli("batch", submissions, "--ref", local_run, "--timeout", 15, "--no-report")
    assert done.returncode == 0, done.stdout
    table = read_table(submissions / "grades.csv")
    assert table["a_stuck"]["verdict"] == "ERROR"
    assert table["a_stuck"]["first_problem"] == "grading timed out after 15 s"
    assert table["b_good"]["verdict"] == "PASS"


@pytest.mark.docker
def test_batch_runs_submitted_simulators_in_the_lab_and_grades_them(local_run, tmp_path):
    """Submissions that are simulators (a folder with a Dockerfile) are swapped
    in for PV and run in containers first: the template's run matches the
    stock PV, a simulator that names its output `p` cannot even be connected."""
    submissions = tmp_path / "class"
    student_simulator(submissions / "alice")
    broken = submissions / "bob"
    shutil.copytree(REPO / "tests" / "broken_sims" / "python", broken)
    dockerfile = broken / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("ARG BROKEN\n", "ARG BROKEN=WrongAttr\n"))
    done = cli("batch", submissions, "--ref", local_run, "--no-report", timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["student"]: row for row in csv.DictReader(open(submissions / "grades.csv"))}
    assert rows["alice"]["verdict"] == "PASS", rows["alice"]
    assert rows["bob"]["verdict"] != "PASS" and float(rows["bob"]["score"]) < 100, rows["bob"]
    assert not list((REPO / "services").glob("grade-*")), "submission folders left behind"
    for student in ("alice", "bob"):
        for run in (REPO / "results").glob(f"grade-{student}-*"):
            shutil.rmtree(run)
