"""``batch``: grade every student's submission into one CSV table.

Each submission is graded in its own subprocess with a time limit, so one
pathological file cannot hang or crash the batch.
"""

import csv
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from smartgrid_lab import exercises, submissions
from smartgrid_lab.grading.common import Unusable
from smartgrid_lab.grading.load import locate
from smartgrid_lab.grading.verdict import ERROR


COLUMNS = ("student", "verdict", "score", "problems", "first_problem")


def child_env() -> dict[str, str]:
    """The environment of a grading subprocess: this package importable, no GUI."""
    paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
    return os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, paths)),
                         "MPLBACKEND": "Agg"}


def grade_in_subprocess(submission: Path, ref: str, args) -> dict:
    """One submission, graded by a child process with a time limit.

    A damaged file can make HDF5 hang (an external dataset on a FIFO or a
    dead network mount) or crash the interpreter; in a child, that costs one
    row, not the batch. The child hands its verdict back as a JSON file.
    """
    error_row = {"student": submission.name, "verdict": ERROR, "score": 0.0, "problems": 1}
    with tempfile.TemporaryDirectory() as tmp:
        summary_file = Path(tmp) / "grade.json"
        command = [sys.executable, "-m", "smartgrid_lab.grading", "grade", str(submission),
                   *([ref] if ref else []), "--json", str(summary_file),
                   "--results", str(args.results)]
        command += ["--spec", str(args.spec)] if args.spec else []
        command += ["--no-report"] if args.no_report else []
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=child_env(),
                                  timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return error_row | {"first_problem": f"grading timed out after {args.timeout:g} s"}
        try:
            summary = json.loads(summary_file.read_text())
        except (OSError, ValueError):  # no verdict: the child crashed
            last = ((done.stdout + done.stderr).strip().splitlines() or ["no output"])[-1]
            return error_row | {"first_problem": f"grader failed (exit {done.returncode}): "
                                                 f"{last}"}
    problems = summary["problems"]
    return {"student": submission.name, "verdict": summary["verdict"],
            "score": summary["score"], "problems": len(problems),
            "first_problem": problems[0] if problems else ""}


def grade_submission(submission: Path, args) -> dict:
    """A run directory is graded as it is; a simulator is first run in the lab.

    Simulators graded against a reference run the demo as exercise `model`
    (its role is the demo's PV simulator).
    """
    run_directory = submission
    if submissions.is_simulator(submission):
        exercise = exercises.load(args.exercise or "model")
        print(f"running {submission.name}'s simulator as {exercise.role.service} in exercise "
              f"{exercise.id} ...", file=sys.stderr, flush=True)
        run_directory, problem = submissions.run_in_lab(submission, exercise,
                                                         args.run_timeout)
        if problem:
            return {"student": submission.name, "verdict": ERROR, "score": 0.0,
                    "problems": 1, "first_problem": problem}
    return grade_in_subprocess(run_directory, args.ref, args) | {"student": submission.name}


def print_table(rows: list[dict]) -> None:
    widths = {c: max(len(c), *(len(str(r[c])[:70]) for r in rows)) for c in COLUMNS}
    print("  ".join(c.ljust(widths[c]) for c in COLUMNS))
    for row in rows:
        print("  ".join(str(row[c])[:70].ljust(widths[c]) for c in COLUMNS))


def run_batch(args) -> int:
    if not args.submissions.is_dir():
        print(f"ERROR: submissions folder {args.submissions} does not exist")
        return 2
    try:
        if args.ref:
            locate(args.ref, args.results, "reference")
        elif not args.exercise:
            raise Unusable("say what to grade on: --exercise ID (its objectives) or --ref REF")
        else:
            exercises.load(args.exercise)
    except (Unusable, exercises.ExerciseError) as error:
        print(f"ERROR: {error}")
        return 2
    folders = sorted(p for p in args.submissions.iterdir()
                     if p.is_dir() and not p.name.startswith((".", "_")))
    if not folders:
        print(f"ERROR: no submission folders in {args.submissions}")
        return 2
    def graded(submission: Path) -> dict:
        row = grade_submission(submission, args)
        print(f"graded {submission.name}: {row['verdict']}", file=sys.stderr, flush=True)
        return row

    # Each submission runs under its own Compose project and port: JOBS of them at once.
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(graded, folders))
    out = args.out or args.submissions / "grades.csv"
    with open(out, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print_table(rows)
    print(f"table: {out}")
    return 0

