"""Run a student's simulator in the lab, so that batch grading can grade its run.

A submission folder with a Dockerfile is a simulator service, as `make new-sim`
creates one. It is copied into ``services/`` under a name of its own, swapped
in for its exercise's role (``make up EX=voltage SWAP=controller=...``) under its own Compose
project and web port, with a time limit, and always taken down again. What
remains is the run directory, graded like any other.
"""

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from smartgrid_lab.exercises import Exercise
from smartgrid_lab.listening import free_port

REPO = Path(__file__).resolve().parents[2]


def is_simulator(folder: Path) -> bool:
    return (folder / "Dockerfile").is_file()


def run_in_lab(folder: Path, exercise: Exercise, timeout: float) -> tuple[Path, str | None]:
    """Run *exercise* with *folder*'s simulator in its role; return the run
    directory and, if the run did not finish in time, why."""
    slug = re.sub(r"[^a-z0-9-]+", "-", folder.name.lower()).strip("-")[:30] or "student"
    name = f"grade-{slug}"
    run_id = f"{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    service = REPO / "services" / name
    settings = [f"COMPOSE_PROJECT=sgl-{name}", f"LAB_WEB_PORT={free_port()}"]
    shutil.rmtree(service, ignore_errors=True)
    shutil.copytree(folder, service)
    try:
        subprocess.run(["make", "--no-print-directory", "up", f"EX={exercise.id}",
                        f"SWAP={exercise.role.service}={name}",
                        f"RUN_ID={run_id}", *settings], cwd=REPO, capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
        problem = None
    except subprocess.TimeoutExpired:
        problem = f"the run with this simulator took longer than {timeout:g} s"
    finally:
        subprocess.run(["make", "--no-print-directory", "down", *settings], cwd=REPO,
                       capture_output=True)
        subprocess.run(["docker", "image", "rm", "-f", f"smartgrid-lab/{name}"],
                       capture_output=True)
        shutil.rmtree(service, ignore_errors=True)
    return REPO / "results" / run_id, problem
