"""`make rerun`: a run repeated from its manifest is bit-identical."""

import json
import shutil
import subprocess
import sys

from conftest import REPO


def rerun(run_dir):
    return subprocess.run([sys.executable, "-m", "smartgrid_lab.rerun", str(run_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})


def test_rerun_of_a_local_run_is_identical(local_run, tmp_path):
    run_dir = tmp_path / "original"
    shutil.copytree(local_run, run_dir)
    done = rerun(run_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "IDENTICAL: all" in done.stdout
    assert (tmp_path / "original-rerun-1" / "demo.hdf5").exists()


def test_rerun_says_which_datasets_differ_and_how_the_numeric_environment_does(
        local_run, tmp_path):
    run_dir = tmp_path / "tampered"
    shutil.copytree(local_run, run_dir)
    record = json.loads((run_dir / "manifest.json").read_text())
    blas, env = record["numeric"]["blas"][0], record["numeric"]["env"]
    kernel, coretype = blas["architecture"], env["OPENBLAS_CORETYPE"]
    record["hdf5"]["datasets"]["Series/PV-0.PV_3/P"]["sha256"] = "0" * 64
    blas["architecture"] = env["OPENBLAS_CORETYPE"] = "Haswell"  # as if a user's kernel
    (run_dir / "manifest.json").write_text(json.dumps(record))
    done = rerun(run_dir)
    assert done.returncode == 1
    assert "DIFFERENT: 1 datasets differ from tampered, e.g. Series/PV-0.PV_3/P" in done.stdout
    assert (f"The numeric environment differs: master: blas {blas['library']} architecture "
            f"'Haswell' -> '{kernel}'; master: env OPENBLAS_CORETYPE 'Haswell' -> "
            f"'{coretype}'") in done.stdout


def test_a_failed_run_cannot_be_rerun(tmp_path):
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "manifest.json").write_text(json.dumps({"status": "failed"}))
    done = rerun(tmp_path / "failed")
    assert done.returncode == 2
    assert "did not complete" in done.stderr


def test_a_rerun_repeats_the_runs_exercise_with_its_swapped_simulators(tmp_path):
    """A container run of exercise voltage with a student's controller is rerun
    as `make up EX=voltage SWAP=controller=<their image>`, not as the demo."""
    from smartgrid_lab.rerun import rerun_command

    record = {"mode": "containers", "exercise": "voltage",
              "scenario": {"file": "scenarios/voltage.py", "name": "voltage", "rt_factor": 0},
              "simulators": {"Grid": {"service": "grid", "image": "smartgrid-lab/grid"},
                             "Controller": {"service": "controller",
                                            "image": "smartgrid-lab/moncontroleur"}}}
    command = rerun_command(record, tmp_path, "again")
    assert command[:4] == ["make", "--no-print-directory", "up", "EX=voltage"]
    assert "SWAP=controller=moncontroleur" in command
    record["mode"] = "local"
    record["simulators"] = {"Controller": {"python": "services/moncontroleur/simulator.py:Simulator"}}
    command = rerun_command(record, tmp_path, "again")
    assert command[command.index("--exercise") + 1] == "voltage"
    assert "--swap=Controller=services/moncontroleur/simulator.py:Simulator" in command
