"""`make check-sim`: every exercise's starter and solution pass, and each
typical mistake fails with its own line.

Images are built from the exercises' simulators (as `make new-sim` copies
them) and tests/broken_sims/ (FROM
smartgrid-lab/base, which `make test` builds), under tags unique to this test
session, and removed afterwards, as is everything the checks start.
"""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, student_simulator
from smartgrid_lab import exercises

WITH_ROLE = [e for e in exercises.ids() if exercises.load(e).role]

pytestmark = pytest.mark.docker

BROKEN = REPO / "tests" / "broken_sims"
CRASH_LINE = next(number for number, line in
                  enumerate((BROKEN / "python" / "broken.py").read_text().splitlines(), 1)
                  if "self.power[eid]" in line)
CASES = {  # a broken simulator (a class in broken.py), and the line that must name its fault
    "WrongAttr": "FAIL  meta: model 'PV' does not offer attr 'P' (its attrs: ['p'])",
    "WrongStepTime": "FAIL  step(0, {}, 86400) returned 0: the next time must be an int "
                     "greater than the current time 0",
    "CrashInGetData": "FAIL  get_data() at t=0 raised KeyError: 'PV_0' "
                      f"at /lab/sim/broken.py:{CRASH_LINE}",
    "NeverListens": "FAIL  never listens on port 5555: not within 5 s "
                    "(the container is still running); its last log lines: (none)",
}
BUILDS = {  # image name -> docker build arguments
    **{f"{exercise}-{source}": (exercise, source) for exercise in WITH_ROLE
       for source in ("starter", "solution")},
    "NeverListens": [str(BROKEN / "never_listens")],
    **{case: ["--build-arg", f"BROKEN={case}", str(BROKEN / "python")]
       for case in ("WrongAttr", "WrongStepTime", "CrashInGetData")},
}


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Each folder's image under a tag of this session (built in parallel: builds are slow)."""
    tags = {name: f"smartgrid-lab/check-test-{os.getpid()}-{name.lower()}" for name in BUILDS}
    folders = tmp_path_factory.mktemp("students")
    builds = {name: subprocess.Popen(["docker", "build", "-q", "-t", tags[name], *(
                  [str(student_simulator(folders / name, *arguments))]
                  if isinstance(arguments, tuple) else arguments)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name, arguments in BUILDS.items()}
    try:
        for name, build in builds.items():
            _, errors = build.communicate(timeout=600)
            assert build.returncode == 0, f"building {name}: {errors}"
        yield tags
    finally:
        docker("image", "rm", "-f", *tags.values())


def check(image: str, *options: str) -> subprocess.CompletedProcess:
    """`python -m smartgrid_lab.conformance IMAGE`, then assert it left nothing behind."""
    done = subprocess.run(
        [sys.executable, "-m", "smartgrid_lab.conformance", image, *options],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    tag = re.search(r"\((sgl-check-[0-9a-f]+)-\*\)", done.stdout).group(1)
    assert docker("ps", "-aq", "--filter", f"name={tag}-").stdout == ""
    assert docker("network", "ls", "-q", "--filter", f"name={tag}-").stdout == ""
    return done


def test_the_model_starter_passes_two_runs_in_fresh_containers(images):
    done = check(images["model-starter"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout
    assert "run 2 of 2:" in done.stdout
    assert done.stdout.count("ok    P < 0 at noon") == 2
    assert done.stdout.splitlines()[-1].startswith("PASS: ")


@pytest.mark.parametrize("exercise, source", [(e, s) for e in WITH_ROLE
                                               for s in ("starter", "solution")
                                               if (e, s) != ("model", "starter")])
def test_every_starter_and_solution_keeps_its_exercises_contract(images, exercise, source):
    name = f"{exercise}-{source}"
    done = check(images[name], "--exercise", exercise, "--runs", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout
    assert done.stdout.splitlines()[-1].startswith("PASS: ") and f"exercise {exercise}" in done.stdout


@pytest.mark.parametrize("case", CASES)
def test_a_broken_simulator_fails_with_what_is_wrong_and_where(images, case):
    done = check(images[case], "--ready-timeout", "5")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"  {CASES[case]}" in lines, done.stdout
    assert lines[-1] == "FAIL: 1 problem"
