"""Objective grading: does the run achieve what its exercise asks?

An exercise's ``exercise.toml`` declares objectives, each a KPI of the run
(:mod:`smartgrid_lab.kpis`) with a threshold and a weight. The verdict is
PASS when every objective is met and the physics checks every run gets
(:func:`smartgrid_lab.results.problems_in`) find nothing; the score is
the weighted share of objectives met. A run a simulator ended early FAILs
and scores 0, its crash the first problem.
"""

import dataclasses
from pathlib import Path

from smartgrid_lab import exercises, kpis, results
from smartgrid_lab.exercises import Exercise, ExerciseError, Objective
from smartgrid_lab.grading.common import RESULTS, Problem, Unusable
from smartgrid_lab.grading.load import Run, load_run
from smartgrid_lab.grading.verdict import FAIL, PASS, Grade, manifest_notes, unusable


@dataclasses.dataclass
class Reached:
    """One objective and what the run reached."""

    objective: Objective
    kpi: kpis.KPIValue

    @property
    def met(self) -> bool:
        return self.objective.met_by(self.kpi.value)

    def line(self) -> str:
        value = f"{self.kpi.value:.4g} {self.kpi.unit}"
        return (f"{'ok  ' if self.met else 'FAIL'}  {self.objective.id}: "
                f"{self.objective.title_en}: {value} (objective {self.objective.threshold})")


def exercise_of(run: Run) -> Exercise:
    """The exercise the run's manifest names (its scenario, for older runs)."""
    exercise_id = (run.manifest or {}).get("exercise") or run.scenario
    try:
        exercise = exercises.load(exercise_id)
    except ExerciseError as error:
        raise Unusable(f"run {run.directory}: {error}") from None
    if not exercise.objectives:
        raise Unusable(f"exercise {exercise.id!r} has no objectives: grade its runs against "
                       "a reference run (make grade RUN=<id> REF=<reference>)")
    return exercise


def grade_objectives(run: Run, exercise: Exercise) -> Grade:
    data = kpis.RunData.load(run.hdf5_file)
    reached = [Reached(o, kpis.compute(data, o.kpi, **o.params)) for o in exercise.objectives]
    problems = [Problem("manifest.json", run.manifest_problem)] if run.manifest_problem else []
    problems += [Problem(r.objective.id, f"{r.objective.title_en}: {r.kpi.value:.4g} "
                         f"{r.kpi.unit}, objective {r.objective.threshold}"
                         + (f" ({r.kpi.note})" if r.kpi.note else ""))
                 for r in reached if not r.met]
    problems += [Problem("physics", p) for p in results.problems_in(run.series, data.steps)]
    total = sum(r.objective.weight for r in reached)
    score = 0.0 if run.crashed else round(
        100 * sum(r.objective.weight for r in reached if r.met) / total, 1)
    return Grade(FAIL if problems else PASS, score, problems, manifest_notes(run), run=run,
                 exercise=exercise, reached=reached)


def grade(run_arg: str, results_dir: Path = RESULTS) -> Grade:
    """Grade ``run_arg`` on its exercise's objectives; unusable input gives ERROR."""
    try:
        run = load_run(run_arg, results_dir, "run")
        return grade_objectives(run, exercise_of(run))
    except Unusable as error:
        return unusable(str(error))


def verdict_lines(grade: Grade) -> list[str]:
    """The verdict, one line per objective, then the other problems."""
    lines = [f"{grade.verdict}: run {grade.run.directory} on the objectives of exercise "
             f"{grade.exercise.id} ({grade.exercise.title_en}): score {grade.score:.1f}/100"]
    lines += [f"  {r.line()}" for r in grade.reached]
    objective_ids = {r.objective.id for r in grade.reached}
    lines += [f"  {p}" for p in grade.problems if p.where not in objective_ids]
    return lines


def write_report(grade: Grade, directory: Path, title: str) -> Path:
    """``report.md``: the objectives table and one plot of each KPI against its threshold."""
    directory.mkdir(parents=True, exist_ok=True)
    exercise = grade.exercise
    lines = [f"# {title}: {grade.verdict}, score {grade.score:.1f}/100", "",
             f"Exercise `{exercise.id}` (TP{exercise.tp}): {exercise.title_en} / "
             f"{exercise.title}", "",
             "| objective | value | threshold | weight | met | how measured |",
             "|---|---|---|---|---|---|"]
    for r in grade.reached:
        lines.append(f"| {r.objective.title_en} | {r.kpi.value:.4g} {r.kpi.unit} | "
                     f"{r.objective.threshold} | {r.objective.weight:g} | "
                     f"{'yes' if r.met else '**no**'} | `{r.objective.kpi}`: {r.kpi.note} |")
    others = [p for p in grade.problems if p.where not in {r.objective.id for r in grade.reached}]
    if others:
        lines += ["", "## Other problems", ""] + [f"- {p}" for p in others]
    if grade.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in grade.notes]
    lines += ["", "![objectives](objectives.png)", ""]
    plot_objectives(directory / "objectives.png", grade)
    path = directory / "report.md"
    path.write_text("\n".join(lines))
    return path


def plot_objectives(path: Path, grade: Grade) -> None:
    """Each KPI's curve over the day against its threshold."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    fig = Figure(figsize=(10, 2.6 * len(grade.reached)), dpi=100, layout="constrained")
    axes = fig.subplots(len(grade.reached), 1, sharex=True, squeeze=False)[:, 0]
    for ax, r in zip(axes, grade.reached, strict=True):
        curve = r.kpi.curve
        if curve is not None:
            hours = [i / 60 for i in range(curve.size)]  # one step a minute
            ax.plot(hours, curve, lw=1, color="tab:green" if r.met else "tab:red")
        limit = r.objective.at_most if r.objective.at_most is not None else r.objective.at_least
        ax.axhline(limit, color="black", ls="--", lw=1, label=f"objective {r.objective.threshold}")
        ax.set_title(f"{r.objective.title_en}: {r.kpi.value:.4g} {r.kpi.unit}", fontsize=10)
        ax.set_ylabel(r.kpi.unit)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    axes[-1].set_xlim(0, 24)
    axes[-1].set_xticks(range(0, 25, 3))
    axes[-1].set_xlabel("time of day [h]")
    fig.savefig(path)
