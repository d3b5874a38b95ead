"""One numeric environment, whatever the user's says: bit-identical runs, and
a manifest that says what was in force and what it replaced."""

import json
import os
import platform
import re
import subprocess
import sys

import mosaik
import pytest
from numpy._core._multiarray_umath import __cpu_features__

from conftest import DEMO, REPO, free_port
from smartgrid_lab import numeric
from smartgrid_lab.simulators import RetryingConnect

HOSTILE = {  # what a user's shell may say: another kernel, threads, numpy's own choice
    "OPENBLAS_CORETYPE": "Haswell" if __cpu_features__["AVX2"] else "Nehalem",
    "OPENBLAS_NUM_THREADS": "2",
    "OMP_NUM_THREADS": "2",
    "OPENBLAS_L2_SIZE": "1024",
    "NPY_DISABLE_CPU_FEATURES": "AVX512F",
}
REPLACED = {name: value for name, value in HOSTILE.items() if name in numeric.fixed_environment()}
"""What the lab replaces of them on this machine (OpenBLAS_L2_SIZE only on x86-64)."""


def user_environment(**variables) -> dict:
    """The test's own environment (like a user's shell) with *variables* on top."""
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), **variables}


def test_ensure_restarts_the_same_command_in_the_fixed_environment():
    code = ("import os, sys, json; from smartgrid_lab import numeric; numeric.ensure(); "
            "print(json.dumps({'argv': sys.argv, 'pid': os.getpid(), **numeric.report()}))")
    done = subprocess.run([sys.executable, "-c", code, "an", "argument"], cwd=REPO,
                          env=user_environment(**HOSTILE), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["argv"] == ["-c", "an", "argument"]
    assert report["env"] == numeric.fixed_environment()
    assert report["overridden"] == REPLACED
    assert f"OPENBLAS_CORETYPE={HOSTILE['OPENBLAS_CORETYPE']}" in done.stderr  # said so
    assert report["numpy_dispatch_enabled"] == []
    assert {library["num_threads"] for library in report["blas"]} == {1}
    if platform.machine() == "x86_64":  # OpenBLAS names its Prescott kernel "Katmai"
        assert {library["architecture"] for library in report["blas"]} == {"Katmai"}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the image's ENV is for x86-64")
def test_the_base_image_sets_the_same_environment():
    dockerfile = (REPO / "services" / "base" / "Dockerfile").read_text()
    set_in_image = dict(re.findall(r'^\s*(?:ENV )?([A-Z][A-Z0-9_]+)="?([^"\n]*?)"?(?: \\)?$',
                                   dockerfile, re.MULTILINE))
    fixed = numeric.fixed_environment()
    assert {name: set_in_image.get(name) for name in fixed} == fixed


def test_a_simulator_server_reports_its_environment_to_the_master_not_to_mosaik():
    """What a simulator container does, on loopback: its init answer carries
    the numeric report, which the master keeps for the manifest."""
    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "smartgrid_lab.serve", "mosaik_csv:CSV", "--remote",
         f"127.0.0.1:{port}", "--timeout", "30"],
        cwd=REPO, env=user_environment(OPENBLAS_CORETYPE=HOSTILE["OPENBLAS_CORETYPE"]))
    try:
        starter = RetryingConnect("127.0.0.1", port, timeout=30)
        world = mosaik.World({"PV": starter}, skip_greetings=True)
        pv_sim = world.start("PV", sim_start="2025-06-21 00:00:00",
                             datafile=str(REPO / "data" / "pv.csv"))
        meta = pv_sim._async_model_factory.meta  # the meta as mosaik got it
        assert "PV" in meta["models"] and numeric.META_KEY not in meta
        world.shutdown()
        assert simulator.wait(timeout=10) == 0
    finally:
        simulator.kill()
    report = starter.numeric["PV-0"]
    assert report["env"] == numeric.fixed_environment()
    assert report["overridden"] == {"OPENBLAS_CORETYPE": HOSTILE["OPENBLAS_CORETYPE"]}


def test_a_run_under_other_kernels_and_threads_is_bit_identical(local_run, tmp_path):
    """`local_run` ran with OpenBLAS's and numpy's own choices for this CPU;
    this run with another kernel, more threads and other numpy dispatch."""
    done = subprocess.run(
        [sys.executable, str(DEMO), "--results", str(tmp_path), "--run-id", "hostile",
         "--serve", f"127.0.0.1:{free_port()}"],
        cwd=REPO, env=user_environment(**HOSTILE), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    first = json.loads((local_run / "manifest.json").read_text())
    second = json.loads((tmp_path / "hostile" / "manifest.json").read_text())
    assert len(first["hdf5"]["datasets"]) > 500
    assert second["hdf5"]["datasets"] == first["hdf5"]["datasets"]
    assert first["numeric"]["env"] == second["numeric"]["env"] == numeric.fixed_environment()
    assert first["numeric"]["overridden"] == {}
    assert second["numeric"]["overridden"] == REPLACED
    assert first["numeric"]["blas"] == second["numeric"]["blas"]
    assert numeric.differences(first, second) == []
