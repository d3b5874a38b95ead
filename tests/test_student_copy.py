"""`make student-copy`: the lab without solutions, and every student command works in it.

The copy is set up the way a student sets it up (its own venv, wheelhouse and
images, built by its own Makefile), then used as the voltage sheet says.
"""

import os
import shutil
import subprocess

import pytest

from conftest import REPO, free_port, make_in as make

pytestmark = pytest.mark.docker


def test_a_student_copy_has_no_solutions_and_works(tmp_path):
    lab = tmp_path / "lab"
    done = make(REPO, "student-copy", f"DEST={lab}")
    assert done.returncode == 0, done.stderr
    assert (lab / "exercises" / "voltage" / "starter" / "simulator.py").is_file()
    assert (lab / "exercises" / "voltage" / "README.fr.md").is_file()
    assert not list(lab.glob("exercises/*/solution")), "a solution went into the student copy"
    assert not any("solution" in p.parts for p in lab.rglob("*") if "exercises" in p.parts)
    assert not (lab / ".venv").exists() and not (lab / "results").exists()

    project, port = f"sgl-test-student-{os.getpid()}", free_port()
    try:
        done = make(lab, "new-sim", "NAME=moncontroleur", "EX=voltage")
        assert done.returncode == 0, done.stdout + done.stderr
        done = make(lab, "check-sim", "SIM=moncontroleur", "EX=voltage")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "PASS: smartgrid-lab/moncontroleur keeps the contract" in done.stdout
        done = make(lab, "up", "EX=voltage", "SWAP=controller=moncontroleur", "RUN_ID=tp3",
                    f"COMPOSE_PROJECT={project}", f"LAB_WEB_PORT={port}")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        done = make(lab, "grade", "RUN=tp3")
        assert done.returncode != 0, done.stdout + done.stderr  # the starter: FAIL, graded
        assert "FAIL  voltage_band" in done.stdout
        assert (lab / "results" / "tp3" / "grading" / "report.md").is_file()
        done = make(lab, "run-solution", "EX=voltage")
        assert done.returncode == 2 and "a student copy has none" in done.stderr
    finally:
        make(lab, "down", f"COMPOSE_PROJECT={project}")
        subprocess.run(["docker", "image", "rm", "-f", "smartgrid-lab/moncontroleur"],
                       capture_output=True)
        shutil.rmtree(lab, ignore_errors=True)
