"""An offline lab room from one file: `make bundle`, then on a PC with no
network, `make load` and `make up` give the same results as the source tree.

The lab room is a fresh folder and a network namespace with nothing but
loopback: no registry, no PyPI, no Debian mirror can be reached from it.
Every lab image is removed before the bundle is loaded, so what runs there
comes from the bundle alone.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from conftest import REPO, free_port
from smartgrid_lab.student_copy import SOLUTION

pytestmark = pytest.mark.docker


def docker(*args: str) -> list[str]:
    return subprocess.run(["docker", *args], check=True, capture_output=True,
                          text=True).stdout.split()


def lab_image_ids() -> dict[str, str]:
    rows = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}={{.ID}}", "smartgrid-lab/*")
    return dict(row.split("=") for row in rows)


def offline(folder, command: str) -> subprocess.CompletedProcess:
    """*command* in *folder*, in the user's environment, in a network
    namespace whose only interface is loopback."""
    return subprocess.run(
        ["unshare", "--net", "sh", "-c", f"ip link set lo up && {command}"],
        cwd=folder, env=os.environ, capture_output=True, text=True, timeout=1200,
        stdin=subprocess.DEVNULL)


@pytest.fixture
def student_bundle():
    made = subprocess.run(["make", "--no-print-directory", "bundle", "STUDENT=1"], cwd=REPO,
                          capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stdout + made.stderr
    archive = REPO / made.stdout.split("Bundle: ")[1].split(" (")[0]
    try:
        yield archive
    finally:
        archive.unlink()
        archive.with_name(archive.name + ".sha256").unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="a network namespace needs root (unshare --net)")
def test_a_students_bundle_runs_the_lab_offline_with_identical_results(
        student_bundle, local_run, tmp_path):
    digest, name = (student_bundle.with_name(student_bundle.name + ".sha256")
                    .read_text().split())
    assert name == student_bundle.name
    assert digest == hashlib.sha256(student_bundle.read_bytes()).hexdigest()
    with tarfile.open(student_bundle) as archive:
        members = archive.getnames()
        top = members[0].split("/")[0]
        inside = {member.removeprefix(top + "/") for member in members}
        assert {"images.tar", "BUNDLE", "INSTALL.txt", "Makefile", "compose.yaml"} <= inside
        assert not [member for member in inside if SOLUTION.match(member)]
        archive.extractall(tmp_path, filter="tar")
    room = tmp_path / top

    bundled = lab_image_ids()
    for image in bundled:
        docker("image", "rm", image)
    assert lab_image_ids() == {}

    run_id, project = f"room-{os.getpid()}", f"sgl-test-room-{os.getpid()}"
    try:
        up = offline(room, f"make --no-print-directory load && make --no-print-directory up "
                           f"RUN_ID={run_id} COMPOSE_PROJECT={project} LAB_WEB_PORT={free_port()}")
        assert up.returncode == 0, up.stdout + up.stderr
        assert lab_image_ids() == bundled  # loaded as they were, nothing rebuilt

        record = json.loads((room / "results" / run_id / "manifest.json").read_text())
        expected = json.loads((local_run / "manifest.json").read_text())
        assert record["status"] == "completed"
        assert record["hdf5"]["datasets"] == expected["hdf5"]["datasets"]

        # A student's own simulator, offline too: from the starter, checked
        # against the contract, its image built on the bundle's base.
        sim = offline(room, "make --no-print-directory new-sim NAME=mypv && "
                            "make --no-print-directory check-sim SIM=mypv")
        assert sim.returncode == 0, sim.stdout + sim.stderr
        assert "smartgrid-lab/mypv:latest" in lab_image_ids()
        assert not (room / "exercises" / "model" / "solution").exists()
    finally:
        subprocess.run(["make", "--no-print-directory", "down", f"COMPOSE_PROJECT={project}"],
                       cwd=room, capture_output=True, timeout=300)
        subprocess.run(["docker", "image", "rm", "smartgrid-lab/mypv"], capture_output=True)
        shutil.rmtree(room / "results", ignore_errors=True)
