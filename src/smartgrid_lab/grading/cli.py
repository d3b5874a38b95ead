"""The command line: a verdict line per run and an exit code, never a traceback.

    python -m smartgrid_lab.grading grade RUN [--report DIR]     # on its exercise's objectives
    python -m smartgrid_lab.grading grade RUN REF [--spec FILE]  # replication of a reference
    python -m smartgrid_lab.grading batch SUBMISSIONS_DIR (--exercise ID | --ref REF) [--out table.csv]

A teacher grading 30 submissions needs a verdict for each, not a stack dump.
"""

import argparse
import json
from pathlib import Path

from smartgrid_lab.grading import objectives
from smartgrid_lab.grading.batch import run_batch
from smartgrid_lab.grading.common import RESULTS, Unusable
from smartgrid_lab.grading.load import locate
from smartgrid_lab.grading.report import write_report
from smartgrid_lab.grading.verdict import ERROR, PASS, Grade, grade

MAX_PRINTED_PROBLEMS = 40


def verdict_lines(grade: Grade) -> list[str]:
    """What the teacher reads: the verdict, then one line per problem."""
    if grade.verdict == ERROR:
        return [f"ERROR: {grade.problems[0].message}"]
    what = "matches" if grade.verdict == PASS else "does not match"
    count = len(grade.problems)
    lines = [f"{grade.verdict}: run {grade.run.directory} {what} reference "
             f"{grade.ref.directory} (spec {grade.spec.file or 'built-in defaults'}): "
             f"score {grade.score:.1f}/100" + (f", {count} problem(s)" if count else "")]
    lines += [f"  {p}" for p in grade.problems[:MAX_PRINTED_PROBLEMS]]
    if count > MAX_PRINTED_PROBLEMS:
        lines.append(f"  … and {count - MAX_PRINTED_PROBLEMS} more problems (all in the report)")
    lines += [f"note: {note}" for note in grade.notes]
    return lines


def run_directory_of(arg: str, results_dir: Path) -> Path | None:
    """Where the default report goes, even when the run itself cannot be graded."""
    try:
        return locate(arg, results_dir, "run")[0]
    except Unusable:
        return None


def run_grade(args) -> int:
    if args.ref:
        result = grade(args.run, args.ref, args.spec, args.results)
    else:
        result = objectives.grade(args.run, args.results)
    by_objectives = result.exercise is not None
    print("\n".join((objectives.verdict_lines if by_objectives else verdict_lines)(result)))
    run_directory = run_directory_of(args.run, args.results)
    directory = args.report or (run_directory and run_directory / "grading")
    if not args.no_report and directory:
        try:
            write = objectives.write_report if by_objectives else write_report
            print(f"report: {write(result, directory, Path(args.run).name)}")
            # beside it, the verdict the page shows when it replays the run
            (directory / "grade.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
        except OSError as error:
            print(f"note: report not written to {directory}: {error.strerror or error}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.summary(), indent=2) + "\n")
    return result.exit_code


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m smartgrid_lab.grading",
        description="Grade Smart Grid Lab runs on their exercise's objectives, or against "
                    "a reference run.")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="where run ids are looked up (default: results/)")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("grade", help="grade one run: PASS (0), FAIL (1), ERROR (2)")
    one.add_argument("run", help="run directory, a file in it, or a run id")
    one.add_argument("ref", nargs="?", help="a reference run to replicate (run directory, a "
                     "file in it, or a run id); without it, the exercise's objectives grade")
    one.add_argument("--report", type=Path, help="report folder (default: RUN/grading/)")
    one.add_argument("--no-report", action="store_true", help="print the verdict only")
    one.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # for `batch`
    many = commands.add_parser("batch", help="grade every subfolder into one CSV table")
    many.add_argument("submissions", type=Path,
                      help="folder with one run directory, or one simulator folder "
                           "(with a Dockerfile, to run in the lab first), per student")
    many.add_argument("--exercise", help="grade on this exercise's objectives; submitted "
                      "simulators run in it, in its role")
    many.add_argument("--run-timeout", type=float, default=900,
                      help="seconds allowed for running a submitted simulator (default 900)")
    many.add_argument("--ref", help="grade by replication of this reference run (the demo)")
    many.add_argument("--out", type=Path, help="CSV file (default: SUBMISSIONS/grades.csv)")
    many.add_argument("--timeout", type=float, default=120,
                      help="seconds allowed per submission (default 120)")
    many.add_argument("--no-report", action="store_true", help="no report per submission")
    many.add_argument("--jobs", type=int, default=1,
                      help="submissions graded at once, each in its own lab (default 1)")
    for sub in (one, many):
        sub.add_argument("--spec", type=Path,
                         help="grading spec (default: scenarios/<scenario>.grading.toml)")
        sub.add_argument("--results", type=Path, default=argparse.SUPPRESS,
                         help="where run ids are looked up (default: results/)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run_grade(args) if args.command == "grade" else run_batch(args)
    except Exception as error:  # noqa: BLE001 - a verdict line, even for a grader bug
        print(f"ERROR: the grader failed on this input ({type(error).__name__}: {error}); "
              "please report it with the files")
        return 2
