"""The course's exercises: each is ``exercises/<id>/exercise.toml`` plus its scenario.

An exercise names its scenario, the role the student's simulator fills (the
contract `make check-sim` checks) and the objectives `make grade` measures.
Everything about an exercise is in its folder, so adding one adds no code.

    python -m smartgrid_lab.exercises                # the table of exercises
    python -m smartgrid_lab.exercises services ID    # the Compose services it runs
    python -m smartgrid_lab.exercises show ID FIELD  # e.g. `role.service`, for the Makefile
"""

import ast
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXERCISES = REPO / "exercises"


class ExerciseError(ValueError):
    """An exercise that does not exist, or whose exercise.toml is wrong."""


@dataclass(frozen=True)
class Objective:
    """A KPI of the run, with the threshold the student's run must meet."""

    id: str
    title: str
    title_en: str
    kpi: str
    params: dict
    at_most: float | None = None
    at_least: float | None = None
    weight: float = 1.0

    def met_by(self, value: float) -> bool:
        """Whether ``value`` meets the threshold (NaN never does)."""
        if value != value:  # NaN: the KPI could not be computed
            return False
        return ((self.at_most is None or value <= self.at_most)
                and (self.at_least is None or value >= self.at_least))

    @property
    def threshold(self) -> str:
        """``<= 10`` or ``>= 1250``, as the report prints it."""
        return f"<= {self.at_most:g}" if self.at_most is not None else f">= {self.at_least:g}"


@dataclass(frozen=True)
class Role:
    """What the scenario does with the student's simulator, and expects back."""

    service: str  # the Compose service a student's image replaces
    simulator: str  # its name in the scenario's SIM_CONFIG
    model: str
    count: int
    params: dict
    step: int
    until: int
    inputs: dict = field(default_factory=dict)  # attr -> {unit, description, samples}
    outputs: dict = field(default_factory=dict)  # attr -> {unit, description, range, expect?}

    @property
    def sim_id(self) -> str:
        return f"{self.simulator}-0"


@dataclass(frozen=True)
class Exercise:
    id: str
    tp: int
    title: str
    title_en: str
    scenario: str
    role: Role | None
    objectives: tuple[Objective, ...]

    @property
    def folder(self) -> Path:
        return EXERCISES / self.id

    @property
    def scenario_file(self) -> Path:
        return REPO / "scenarios" / f"{self.scenario}.py"

    def simulators(self) -> list[str]:
        """The simulator names of the scenario's ``SIM_CONFIG``, read without running it."""
        tree = ast.parse(self.scenario_file.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    getattr(target, "id", None) == "SIM_CONFIG" for target in node.targets):
                return list(ast.literal_eval(node.value))
        raise ExerciseError(f"{self.scenario_file} defines no SIM_CONFIG")

    def services(self) -> list[str]:
        """The Compose services that run its simulators: their names in lower case."""
        return [name.lower() for name in self.simulators()]


def ids() -> list[str]:
    return sorted(p.parent.name for p in EXERCISES.glob("*/exercise.toml"))


def load(exercise_id: str) -> Exercise:
    """The exercise ``exercises/<exercise_id>/exercise.toml`` describes."""
    path = EXERCISES / exercise_id / "exercise.toml"
    if not path.is_file():
        raise ExerciseError(f"no exercise {exercise_id!r}: there is no {path.relative_to(REPO)}"
                            f" (exercises: {', '.join(ids())})")
    try:
        raw = tomllib.loads(path.read_text())
        role = raw.get("role")
        return Exercise(
            id=raw["id"], tp=raw["tp"], title=raw["title"], title_en=raw["title_en"],
            scenario=raw["scenario"],
            role=Role(**role) if role else None,
            objectives=tuple(Objective(**o) for o in raw.get("objectives", ())),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as error:
        raise ExerciseError(f"{path.relative_to(REPO)} is not a valid exercise: "
                            f"{type(error).__name__}: {error}") from None


def objectives_of(exercise_id: str | None) -> tuple[Objective, ...]:
    """The objectives of an exercise; none for no exercise or an unknown one
    (a run or its page goes on without them; `make grade` says what is wrong)."""
    try:
        return load(exercise_id).objectives if exercise_id else ()
    except ExerciseError:
        return ()


def table() -> str:
    """One line per exercise: id, TP, title, the student's role, objectives."""
    rows = [("id", "TP", "role (SWAP=...)", "objectives", "title")]
    for exercise in sorted(map(load, ids()), key=lambda e: e.tp):
        role = exercise.role
        rows.append((exercise.id, str(exercise.tp), f"{role.service}=<folder>" if role else "-",
                     ", ".join(o.id for o in exercise.objectives) or "replication (REF=)",
                     exercise.title_en))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return "\n".join(" ".join(f"{cell:<{width}}" for cell, width in zip(row, widths))
                     + f" {row[4]}" for row in rows)


def main(argv: list[str]) -> int:
    try:
        if not argv:
            print(table())
        elif argv[0] == "services" and len(argv) == 2:
            print(" ".join(load(argv[1]).services()))
        elif argv[0] == "show" and len(argv) == 3:
            value = load(argv[1])
            for part in argv[2].split("."):
                value = getattr(value, part) if value is not None else None
            print("" if value is None else value)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except ExerciseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
