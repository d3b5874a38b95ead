"""Two labs on one host (two checkouts, as two students on a teaching server)
never disturb each other: each its own Compose project, page port and results.

Both checkouts use the defaults a user gets (no COMPOSE_PROJECT, no
LAB_WEB_PORT), and start `make up` at the same moment.
"""

import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import REPO, make_in as make

pytestmark = pytest.mark.docker


def project_containers(project: str, *options: str) -> list[str]:
    return subprocess.run(["docker", "ps", "-q", *options, "--filter",
                           f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True).stdout.split()


def test_two_checkouts_run_side_by_side(tmp_path):
    checkouts = [tmp_path / "anna" / "lab", tmp_path / "bruno" / "lab"]
    for checkout in checkouts:
        subprocess.run(["git", "worktree", "add", "--detach", str(checkout), "HEAD"],
                       cwd=REPO, check=True, capture_output=True)
    try:
        ups = [subprocess.Popen(["make", "--no-print-directory", "up", "RUN_ID=side",
                                 "LAB_RT_FACTOR=0.0003"], cwd=checkout, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
               for checkout in checkouts]
        outputs = [up.communicate(timeout=1500)[0] for up in ups]
        for up, output in zip(ups, outputs, strict=True):
            assert up.returncode == 0, output[-3000:]
        labs = [re.search(r"^Lab (\S+): exercise demo; the visualiser is at (\S+)$", output,
                          re.MULTILINE) for output in outputs]
        assert all(labs), outputs
        (project_a, page_a), (project_b, page_b) = (lab.groups() for lab in labs)
        assert project_a != project_b and page_a != page_b
        for checkout, page in zip(checkouts, (page_a, page_b), strict=True):
            record = json.loads((checkout / "results" / "side" / "manifest.json").read_text())
            assert record["status"] == "completed" and record["page"] == page
        # The same day, whoever ran it: bit-identical
        first, second = (json.loads((c / "results" / "side" / "manifest.json").read_text())
                         for c in checkouts)
        assert first["hdf5"]["datasets"] == second["hdf5"]["datasets"]

        # Each lab's containers name their checkout; `make ps` lists both
        for project, checkout in ((project_a, checkouts[0]), (project_b, checkouts[1])):
            container = project_containers(project)[0]
            label = subprocess.run(["docker", "inspect", "-f",
                                    '{{index .Config.Labels "smartgrid-lab.checkout"}}',
                                    container], capture_output=True, text=True).stdout.strip()
            assert label == str(checkout)
        listed = make(checkouts[0], "ps").stdout
        assert project_a in listed and project_b in listed and str(checkouts[1]) in listed

        # `make down` in one lab leaves the other one as it was: its five
        # simulators (exited after the run), its page still served
        assert make(checkouts[0], "down").returncode == 0
        time.sleep(1)
        assert project_containers(project_a, "-a") == []
        assert len(project_containers(project_b, "-a")) == 5
        assert len(project_containers(project_b)) == 1  # the web container
        with urllib.request.urlopen(page_b, timeout=10) as page:
            assert page.status == 200
    finally:
        for checkout in checkouts:
            make(checkout, "down")
            subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=REPO,
                           capture_output=True)
            shutil.rmtree(checkout, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True)
