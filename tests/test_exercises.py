"""The course's exercises: starters FAIL their objectives, solutions PASS them,
the voltage loop really closes, and a class is graded in one batch.

Runs go through `make run-local EX=... SWAP=...` / `make up EX=... SWAP=...`,
the commands the exercise sheets give students.
"""

import csv
import fnmatch
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import REPO, free_port, make_in, student_simulator
from smartgrid_lab import exercises

WITH_ROLE = [e for e in exercises.ids() if exercises.load(e).role]


make = functools.partial(make_in, REPO, timeout=900)


def student_folder(exercise: str, source: str, name: str):
    """services/<name>/ as `make new-sim` makes it, with the starter or the solution."""
    folder = REPO / "services" / name
    shutil.rmtree(folder, ignore_errors=True)
    done = make("new-sim", f"NAME={name}", f"EX={exercise}")
    assert done.returncode == 0, done.stderr
    shutil.copy(REPO / "exercises" / exercise / source / "simulator.py", folder / "simulator.py")
    return folder


def run_locally(exercise: str, folder, run_id: str):
    done = make("run-local", f"EX={exercise}", f"SWAP={exercises.load(exercise).role.service}="
                f"{folder.name}", f"RUN_ID={run_id}", f"LAB_WEB_PORT={free_port()}")
    return done, REPO / "results" / f"{run_id}-local"


def grading(*args) -> subprocess.CompletedProcess:
    """`make grade`'s command, as a teacher's shell runs it."""
    return subprocess.run([sys.executable, "-m", "smartgrid_lab.grading", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})


def grade(run_directory, *extra) -> tuple[subprocess.CompletedProcess, dict]:
    summary = run_directory / "grade.json"
    done = grading("grade", run_directory, *extra, "--json", summary)
    return done, json.loads(summary.read_text())


@pytest.fixture(scope="module")
def graded_runs():
    """Starter and solution of every exercise with a role, run in-process and graded."""
    graded, made = {}, []
    try:
        for exercise in WITH_ROLE:
            for source in ("starter", "solution"):
                name = f"test-{exercise}-{source}"
                folder = student_folder(exercise, source, name)
                made.append(folder)
                done, directory = run_locally(exercise, folder, name)
                made.append(directory)
                assert done.returncode == 0, done.stderr[-2000:]
                graded[exercise, source] = (directory, *grade(directory))
        yield graded
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


def test_make_exercises_lists_demo_model_voltage_and_price():
    done = make("exercises")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert {"demo", "model", "voltage", "price"} <= set(rows)
    assert "controller=<folder>" in rows["voltage"] and "voltage_band" in rows["voltage"]
    assert "pv=<folder>" in rows["model"]
    assert "ems=<folder>" in rows["price"] and "charged, cost, peak" in rows["price"]


@pytest.mark.parametrize("exercise", WITH_ROLE)
def test_every_exercise_is_complete(exercise):
    folder = REPO / "exercises" / exercise
    for part in ("starter/simulator.py", "solution/simulator.py", "README.fr.md", "README.en.md"):
        assert (folder / part).is_file(), part
    loaded = exercises.load(exercise)
    assert loaded.scenario_file.is_file()
    assert loaded.role.service in loaded.services()
    assert loaded.objectives


@pytest.mark.parametrize("exercise", WITH_ROLE)
def test_the_starter_fails_the_objectives_and_the_solution_passes(graded_runs, exercise):
    directory, done, summary = graded_runs[exercise, "starter"]
    assert done.returncode == 1 and summary["verdict"] == "FAIL", done.stdout
    assert json.loads((directory / "manifest.json").read_text())["exercise"] == exercise
    assert not all(o["met"] for o in summary["objectives"].values())
    directory, done, summary = graded_runs[exercise, "solution"]
    assert done.returncode == 0 and summary["verdict"] == "PASS", done.stdout
    assert summary["score"] == 100.0
    assert all(o["met"] for o in summary["objectives"].values())
    assert (directory / "grading" / "report.md").is_file() or "--no-report" in done.args
    for objective in exercises.load(exercise).objectives:
        assert f"{objective.id}: " in done.stdout  # a line per objective, with its value


def test_the_voltage_starter_leaves_the_band_and_the_solution_keeps_it(graded_runs):
    starter = graded_runs["voltage", "starter"][2]["objectives"]
    solution = graded_runs["voltage", "solution"][2]["objectives"]
    assert starter["voltage_band"]["value"] > 60  # minutes above 1.05 p.u. at midday
    assert solution["voltage_band"]["value"] == 0
    assert 0 < solution["curtailment"]["value"] <= 10


def test_the_voltage_loop_closes_within_one_step(graded_runs):
    """The set-point the controller computes at minute t is what the inverter
    applies at t+1, and the node voltage moves in that very step."""
    with h5py.File(graded_runs["voltage", "solution"][0] / "voltage.hdf5") as db:
        series = db["Series"]
        inverter = series["Inverters-0.Inverter_0"]
        applied = inverter["P_limit_pct"][()]
        with h5py.File(graded_runs["voltage", "starter"][0] / "voltage.hdf5") as free:
            bus_ids = [g for g in series if "Vm" in series[g]]
            vm_controlled = np.array([series[g]["Vm"][()] for g in bus_ids])
            vm_free = np.array([free["Series"][g]["Vm"][()] for g in bus_ids])
        inverters = [series[g] for g in series if g.startswith("Inverters-0.")]
        binding = np.any([np.abs(i["P"][()]) < np.abs(i["P_avail"][()]) - 1 for i in inverters],
                         axis=0)
    assert applied[0] == 100.0  # the initial set-point: no limit at the first step
    first = int(np.argmax(binding))
    assert binding.any() and first > 0
    # Up to the first binding limit, both runs are the same grid; in that step, lower.
    assert np.allclose(vm_controlled[:, :first], vm_free[:, :first])
    change = vm_controlled[:, first] - vm_free[:, first]  # V, at the first curtailed step
    assert change.min() < -1e-3 and change.max() <= 1e-9


def test_the_microgrid_starter_imports_in_the_evening_and_the_solution_stores(graded_runs):
    starter = graded_runs["microgrid", "starter"][2]["objectives"]
    solution = graded_runs["microgrid", "solution"][2]["objectives"]
    assert starter["self_sufficiency"]["value"] < 80 < 90 < solution["self_sufficiency"]["value"]
    assert starter["evening_import"]["value"] > 5 > 3 >= solution["evening_import"]["value"]
    assert starter["soc_low"]["value"] == starter["soc_high"]["value"] == 0.2  # idle
    assert 0.1 <= solution["soc_low"]["value"] < 0.2 < 0.85 < solution["soc_high"]["value"] <= 0.9


def test_the_microgrid_objectives_select_feeder_a_and_its_houses():
    """The objectives name the feeder by globs: branch_1 and House_0 ... House_8
    must be feeder a's first cable and exactly the houses on its nodes."""
    with open(REPO / "data" / "households.data") as data:
        lines = data.read().splitlines()
    nodes = json.loads(lines[lines.index("# id_list") + 1])["lab_grid"]
    on_feeder = [f"Households-0.House_{i}" for i, node in enumerate(nodes)
                 if node.startswith("node_a")]
    params = {o.id: o.params for o in exercises.load("microgrid").objectives}
    glob = params["self_sufficiency"]["consumer_match"]
    houses = [f"Households-0.House_{i}" for i in range(len(nodes))]
    assert [h for h in houses if fnmatch.fnmatchcase(h, glob)] == on_feeder
    assert len(on_feeder) == 9
    grid = json.loads((REPO / "data" / "grid.json").read_text())
    assert ["branch_1", "tr_sec", "node_a1"] == next(
        b[:3] for b in grid["branch"] if fnmatch.fnmatchcase(
            f"Grid-0.0-{b[0]}", params["evening_import"]["match"]))


def test_the_microgrid_loop_closes_within_one_step_and_keeps_the_books(graded_runs):
    """The battery applies at minute t the set-point the solution computed from
    minute t-1, and its stored energy moves by what it exchanged, less losses."""
    spec = importlib.util.spec_from_file_location(
        "microgrid_solution", REPO / "exercises" / "microgrid" / "solution" / "simulator.py")
    solution = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solution)
    with h5py.File(graded_runs["microgrid", "solution"][0] / "microgrid.hdf5") as db:
        series = db["Series"]
        battery = {attr: ds[()] for attr, ds in series["Battery-0.Battery_0"].items()}
        p_feeder = series["Grid-0.0-branch_1"]["P_from"][()]
    assert battery["P_set"][0] == 0.0  # the initial set-point: idle
    expected = [solution.set_point(p_feeder[t], battery["P"][t], battery["SoC"][t])
                for t in range(p_feeder.size - 1)]
    np.testing.assert_allclose(battery["P_set"][1:], expected)
    one_way = 0.9 ** 0.5
    kwh = battery["P"][:-1] / 60e3
    stored = np.where(kwh > 0, kwh * one_way, kwh / one_way)
    np.testing.assert_allclose(np.diff(battery["E_kwh"]), stored, atol=1e-9)
    assert np.abs(battery["P"]).max() <= 10_000


def test_objective_grading_names_the_exercise_of_a_demo_run(local_run):
    """The demo has no objectives: its runs are graded against a reference."""
    done = grading("grade", local_run, "--no-report")
    assert done.returncode == 2
    assert "exercise 'demo' has no objectives" in done.stdout
    assert "REF=" in done.stdout


@pytest.mark.docker
@pytest.mark.parametrize("exercise", WITH_ROLE)
def test_in_containers_with_the_solution_as_a_students_image(graded_runs, exercise):
    """`make up EX=<id> SWAP=<role>=<folder>`: same verdict and KPIs as in-process."""
    role = exercises.load(exercise).role
    folder = student_folder(exercise, "solution", f"test-{exercise}-docker")
    project, run_id = f"sgl-test-ex-{free_port()}", f"test-{exercise}-docker-{free_port()}"
    try:
        done = make("up", f"EX={exercise}", f"SWAP={role.service}={folder.name}",
                    f"RUN_ID={run_id}", f"COMPOSE_PROJECT={project}")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        directory = REPO / "results" / run_id
        record = json.loads((directory / "manifest.json").read_text())
        assert record["mode"] == "containers" and record["exercise"] == exercise
        assert record["simulators"][role.simulator]["image"] == f"smartgrid-lab/{folder.name}"
        graded, summary = grade(directory, "--no-report")
        assert graded.returncode == 0 and summary["verdict"] == "PASS", graded.stdout
        local = graded_runs[exercise, "solution"][2]["objectives"]
        for objective, reached in summary["objectives"].items():
            assert reached["value"] == pytest.approx(local[objective]["value"], rel=1e-9)
    finally:
        make("down", f"COMPOSE_PROJECT={project}")
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(REPO / "results" / run_id, ignore_errors=True)
        subprocess.run(["docker", "image", "rm", "-f", f"smartgrid-lab/{folder.name}"],
                       capture_output=True)


@pytest.mark.docker
def test_grade_batch_over_a_class_of_three(tmp_path):
    """Starter, solution and a broken copy: three rows, FAIL / PASS / FAIL-with-crash."""
    submissions = tmp_path / "class"
    for student, source in (("anna", "starter"), ("bruno", "solution"), ("chloe", "solution")):
        student_simulator(submissions / student, "voltage", source)
    broken = submissions / "chloe" / "simulator.py"
    broken.write_text(broken.read_text().replace(
        "        for eid, entity in self.entities.items():",
        "        if time >= 12 * 3600:\n"
        "            raise RuntimeError('my controller gave up')\n"
        "        for eid, entity in self.entities.items():", 1))
    done = make("grade-batch", f"DIR={submissions}", "EX=voltage", "JOBS=2", timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with open(submissions / "grades.csv") as table:
        rows = {row["student"]: row for row in csv.DictReader(table)}
    assert set(rows) == {"anna", "bruno", "chloe"}
    assert rows["anna"]["verdict"] == "FAIL" and "voltage_band" in rows["anna"]["first_problem"]
    assert rows["bruno"]["verdict"] == "PASS"
    assert rows["chloe"]["verdict"] == "FAIL" and float(rows["chloe"]["score"]) == 0
    assert rows["chloe"]["first_problem"].startswith(
        "manifest.json: simulator Controller-0 crashed at 12:00 in step(): RuntimeError: "
        "my controller gave up (simulator.py:"), rows["chloe"]["first_problem"]
