"""The grade: the checks of one run put together into a verdict and a score.

The verdict is PASS (exit 0), FAIL (exit 1: one problem or more) or ERROR
(exit 2: the input cannot be graded). A run a simulator ended early (the
manifest says which, where and why) FAILs with that as its first problem
and scores 0: what it recorded before is no day's work. Score, 0-100: five categories
(completeness, accuracy, voltage, loading, energy) each earn the share of
their items that pass; the score is their weighted mean (weights from the
spec), rounded to 0.1. Items that cannot be checked because their data is
missing do not pass. A run with any problem scores at most 99.9, so 100
always means PASS; ERROR scores 0.
"""

import dataclasses
from pathlib import Path

from smartgrid_lab import manifest as manifests
from smartgrid_lab.exercises import Exercise
from smartgrid_lab.grading.common import RESULTS, Problem, Unusable
from smartgrid_lab.grading.load import Clock, Run, check_reference, load_run
from smartgrid_lab.grading.physics import check_energy, check_loading, check_voltage, line_loading
from smartgrid_lab.grading.replication import Row, compare_series
from smartgrid_lab.grading.spec import CATEGORIES, Spec, default_spec_file, load_spec

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
EXIT_CODES = {PASS: 0, FAIL: 1, ERROR: 2}


@dataclasses.dataclass
class Grade:
    verdict: str
    score: float
    problems: list[Problem]
    notes: list[str] = dataclasses.field(default_factory=list)
    rows: list[Row] = dataclasses.field(default_factory=list)
    shares: dict[str, float] = dataclasses.field(default_factory=dict)
    run: Run | None = None
    ref: Run | None = None
    spec: Spec | None = None
    clock: Clock = dataclasses.field(default_factory=Clock)
    plots: dict = dataclasses.field(default_factory=dict)  # what the report draws
    exercise: "Exercise | None" = None  # objective grading: the exercise ...
    reached: list = dataclasses.field(default_factory=list)  # ... and each objective's KPI

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def summary(self) -> dict:
        return {"verdict": self.verdict, "score": self.score,
                "problems": [str(p) for p in self.problems], "notes": self.notes,
                "objectives": {r.objective.id: {"value": r.kpi.value, "unit": r.kpi.unit,
                                                "met": r.met} for r in self.reached}}


def unusable(message: str) -> Grade:
    return Grade(ERROR, 0.0, [Problem("", message)])


def score_of(shares: dict[str, float], weights: dict[str, float], failed: bool) -> float:
    """Weighted mean of the category shares, in 0-100; never 100 for a failed run."""
    score = 100 * sum(weights[c] * shares[c] for c in CATEGORIES) / sum(weights.values())
    score = round(score, 1)
    return min(score, 99.9) if failed else score


def manifest_notes(run: Run) -> list[str]:
    """Datasets changed since the run wrote its manifest: worth a teacher's look, not a FAIL."""
    recorded = ((run.manifest or {}).get("hdf5") or {}).get("datasets")
    if not recorded:
        return []
    actual = manifests.dataset_checksums(run.hdf5_file)
    changed = sorted(n for n in set(recorded) | set(actual) if recorded.get(n) != actual.get(n))
    if not changed:
        return []
    return [f"{len(changed)} dataset(s) differ from the checksums in manifest.json (first: "
            f"{changed[0]}): {run.hdf5_file.name} was changed after the run"]


def grade_runs(run: Run, ref: Run, spec: Spec) -> Grade:
    """Compare, check the physics, score; the heart of the grader."""
    check_reference(ref)
    clock = Clock.of(ref)
    comparison = compare_series(run.series, ref.series, spec, clock)
    problems = list(comparison.problems)
    if run.manifest_problem:
        problems.insert(0, Problem("manifest.json", run.manifest_problem))
    clean = comparison.clean
    voltage = check_voltage(clean, ref.series, spec, clock)
    loading, graded = ({}, 0) if spec.grid_file is None else \
        line_loading(clean, ref.series, spec.grid_file)
    loading_result = check_loading(loading, graded, spec, clock)
    energy, balances = check_energy(clean, ref.series, spec, clock)
    for result in (voltage, loading_result, energy):
        problems += result.problems
    rows = comparison.rows
    items = len(rows) + comparison.extra + 1
    shares = {
        "completeness": (sum(r.clean for r in rows) + (run.manifest_problem is None)) / items,
        "accuracy": sum(r.within for r in rows) / len(rows) if rows else 1.0,
        "voltage": voltage.share, "loading": loading_result.share, "energy": energy.share,
    }
    notes = energy.notes + manifest_notes(run)
    if ref.manifest_problem:
        notes.append(f"the reference's manifest.json is {ref.manifest_problem}")
    if spec.file is None:
        notes.append("no grading spec found: built-in defaults used")
    verdict = FAIL if problems else PASS
    score = 0.0 if run.crashed else score_of(shares, spec.weights, bool(problems))
    return Grade(verdict, score, problems, notes,
                 rows, shares, run, ref, spec, clock,
                 {"clean": clean, "loading": loading, "balances": balances})


def grade(run_arg: str, ref_arg: str, spec_file: Path | None = None,
          results_dir: Path = RESULTS) -> Grade:
    """Grade ``run_arg`` against ``ref_arg``; unusable input gives an ERROR grade."""
    try:
        ref = load_run(ref_arg, results_dir, "reference")
        run = load_run(run_arg, results_dir, "run")
        spec = load_spec(spec_file or default_spec_file(ref.scenario))
        return grade_runs(run, ref, spec)
    except Unusable as error:
        return unusable(str(error))

