"""However a simulator ends a run early, the run says so: never "completed".

A matrix over where a simulator fails (init, create, setup_done, step at
noon, get_data at noon) and how (an exception, its process exiting), for the
student's role (the template as PV) and a stock simulator (households), each
in-process and in containers: the exit code, the error paragraph, the
manifest's fields, and the HDF5 file (no value that was never computed) must
say the same either way.
"""

import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import DEMO, REPO, free_port
from test_containers import Stack

NOON = 12 * 60 * 60
FAULTS = [  # (service, simulator id, class, call, at)
    *[("pv", "PV-0", "FaultyStudentPV", call, at)
      for call, at in [("init", 0), ("create", 0), ("setup_done", 0), ("step", NOON),
                       ("get_data", NOON)]],
    ("households", "Households-0", "FaultyHouseholds", "step", NOON),
    ("households", "Households-0", "FaultyHouseholds", "get_data", NOON),
]
SIM_NAME = {"pv": "PV", "households": "Households"}
# In containers, one fault per kind of call (start-up, mid-run step, mid-run
# get_data) and per kind of simulator keeps `make test` short; the rest of
# the matrix goes through the very same proxy code.
IN_CONTAINERS = [f for f in FAULTS if (f[0], f[3]) in
                 {("pv", "init"), ("pv", "step"), ("households", "get_data")}]


def fault_env(call: str, at: int, how: str = "raise") -> dict[str, str]:
    return {"LAB_FAULT_CALL": call, "LAB_FAULT_AT": str(at), "LAB_FAULT_HOW": how}


def run_in_process(results, service, faulty_class, call, at):
    """The demo with one simulator swapped for a faulty one, as `make run-local` runs it."""
    env = {**os.environ, **fault_env(call, at), "PYTHONPATH": os.pathsep.join(
        str(REPO / p) for p in ("src", "tests"))}
    done = subprocess.run(
        [sys.executable, str(DEMO), "--results", str(results), "--run-id", "faulty",
         "--serve", f"127.0.0.1:{free_port()}",
         "--swap", f"{SIM_NAME[service]}=faulty_sims:{faulty_class}"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    return done, results / "faulty"


def run_in_containers(service, faulty_class, call, at, how="raise"):
    """`make up SWAP=<service>=<faulty image folder>`, as a student or teacher runs it."""
    stack = Stack()
    name = f"sgl-test-faulty-{os.getpid()}"
    stack.project += "-faulty"
    folder = REPO / "services" / name
    shutil.copytree(REPO / "tests" / "broken_sims" / "faulty", folder)
    shutil.copy(REPO / "tests" / "faulty_sims.py", folder)
    dockerfile = folder / "Dockerfile"
    text = dockerfile.read_text()
    for arg, value in {"FAULTY": faulty_class, **fault_env(call, at, how)}.items():
        text = text.replace(f"ARG {arg}\n", f"ARG {arg}={value}\n")
    dockerfile.write_text(text)
    run_id = f"{stack.run_id}-faulty"
    try:
        done = subprocess.run(
            ["make", "--no-print-directory", "up", f"COMPOSE_PROJECT={stack.project}",
             f"LAB_WEB_PORT={stack.port}", f"RUN_ID={run_id}", f"SWAP={service}={name}",
             "LAB_CALL_TIMEOUT=30"],
            cwd=REPO, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
        leftover = stack.docker("ps", "-q", "--filter",
                                f"label=com.docker.compose.project={stack.project}")
        return done, REPO / "results" / run_id, leftover
    finally:
        stack.make("down")
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["docker", "image", "rm", "-f", f"smartgrid-lab/{name}"],
                       capture_output=True)


def error_line(done) -> str:
    return next(line for line in done.stderr.splitlines() if line.startswith("error: run"))


def check_failed_run(done, directory, sim_id, call, at) -> dict:
    """What every way of failing must show; returns the manifest's failure facts."""
    assert done.returncode != 0, done.stdout + done.stderr
    assert "completed" not in done.stdout
    error = error_line(done)
    assert f"simulator '{sim_id}'" in error, error
    assert f"raised RuntimeError in {call}()" in error, error
    assert f"injected fault in {call}" in error, error
    assert "(faulty_sims.py:" in error, error
    assert "simulated time reached" in error, error
    record = json.loads((directory / "manifest.json").read_text())
    assert record["status"] == "failed"
    failure = record["failure"]
    assert failure["simulator"] == sim_id and failure["call"] == call
    assert failure["exception"] == "RuntimeError"
    assert failure["location"].split(":")[0].endswith("faulty_sims.py")
    assert failure["simulated_time"] == at
    assert "Traceback" in failure["traceback"]
    hdf5 = directory / "demo.hdf5"
    if at:  # a failure mid-run: every step before is kept, none after is invented
        with h5py.File(hdf5) as db:
            recorded = db.attrs["steps_recorded"]
            assert recorded <= at // 60
            assert record["simulated_seconds_reached"] <= at
            for entity, group in db["Series"].items():
                for attr, dataset in group.items():
                    values = dataset[()]
                    assert np.all(np.isnan(values[recorded:])), f"{entity}/{attr}"
                    assert np.all(np.isfinite(values[:recorded])), f"{entity}/{attr}"
    return {key: failure[key] for key in ("simulator", "call", "exception", "message",
                                          "simulated_time")}


@pytest.mark.parametrize("service, sim_id, faulty_class, call, at", FAULTS,
                         ids=[f"{f[0]}-{f[3]}" for f in FAULTS])
def test_a_failing_simulator_fails_the_run_in_process(tmp_path, service, sim_id, faulty_class,
                                                      call, at):
    done, directory = run_in_process(tmp_path, service, faulty_class, call, at)
    check_failed_run(done, directory, sim_id, call, at)
    assert done.returncode == 1


@pytest.mark.docker
@pytest.mark.parametrize("service, sim_id, faulty_class, call, at", IN_CONTAINERS,
                         ids=[f"{f[0]}-{f[3]}" for f in IN_CONTAINERS])
def test_a_failing_simulator_fails_the_run_in_containers(tmp_path, service, sim_id,
                                                         faulty_class, call, at):
    """The same fault in a container: the same verdict, facts and file as in-process."""
    done, directory, leftover = run_in_containers(service, faulty_class, call, at)
    try:
        in_containers = check_failed_run(done, directory, sim_id, call, at)
        assert f"at {service}:5555" in error_line(done)
        assert leftover == "", "containers still running after the run failed"
        local, local_dir = run_in_process(tmp_path, service, faulty_class, call, at)
        assert check_failed_run(local, local_dir, sim_id, call, at) == in_containers
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.docker
def test_a_simulator_whose_process_exits_fails_the_run():
    done, directory, _ = run_in_containers("pv", "FaultyStudentPV", "step", NOON, how="exit")
    try:
        assert done.returncode != 0
        error = error_line(done)
        assert "simulator 'PV-0' at pv:5555 closed the connection" in error, error
        assert "during step() at simulated time 12:00" in error, error
        record = json.loads((directory / "manifest.json").read_text())
        assert record["status"] == "failed"
        assert record["failure"]["kind"] == "lost" and record["failure"]["call"] == "step"
        with h5py.File(directory / "demo.hdf5") as db:
            recorded = db.attrs["steps_recorded"]
            assert 0 < recorded <= NOON // 60
            assert np.all(np.isnan(db["Series/PV-0.PV_0/P"][recorded:]))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
