"""The grading spec: what a run must satisfy, read from a teacher's TOML file.

See ``scenarios/demo.grading.toml``, which documents the format.
"""

import dataclasses
import fnmatch
import tomllib
from pathlib import Path

from smartgrid_lab.grading.common import REPO, Unusable

CATEGORIES = ("completeness", "accuracy", "voltage", "loading", "energy")


@dataclasses.dataclass(frozen=True)
class Tolerance:
    match: str
    abs: float = 0.0
    rel: float = 0.0
    mean_abs: float | None = None

    def fits(self, entity: str, attr: str) -> bool:
        name = f"{entity}/{attr}" if "/" in self.match else attr
        return fnmatch.fnmatchcase(name, self.match)

    def describe(self) -> str:
        text = f"{self.abs:g} + {self.rel:g}·\\|ref\\|"  # escaped for Markdown tables
        return text + (f", mean ≤ {self.mean_abs:g}" if self.mean_abs is not None else "")


EXACT = Tolerance(match="(no rule: exact)")

DEFAULTS = {
    "datasets": {"allow_extra": False, "ignore": []},
    "tolerance": [],
    "voltage": {"band": [0.95, 1.05]},
    "loading": {"max": 1.0, "grid": str(REPO / "data" / "grid.json")},
    "energy": {"max_negative_loss": 1.0, "max_loss_share": 0.1, "rel": 0.01},
    "score": {"completeness": 30, "accuracy": 40, "voltage": 10, "loading": 10, "energy": 10},
}


@dataclasses.dataclass
class Spec:
    """What a run must satisfy; built from a TOML file over :data:`DEFAULTS`."""

    file: Path | None
    allow_extra: bool
    ignore: list[str]
    tolerances: list[Tolerance]
    band: tuple[float, float]
    max_loading: float
    grid_file: Path | None
    max_negative_loss: float
    max_loss_share: float
    energy_rel: float
    weights: dict[str, float]

    def tolerance_for(self, entity: str, attr: str) -> Tolerance:
        """The first rule that fits: order in the file is priority."""
        return next((t for t in self.tolerances if t.fits(entity, attr)), EXACT)

    def ignores(self, entity: str, attr: str) -> bool:
        return any(fnmatch.fnmatchcase(f"{entity}/{attr}", p) for p in self.ignore)


def load_spec(path: Path | None) -> Spec:
    """Parse and validate a spec; a bad spec is :class:`Unusable`, never a guess."""
    raw = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except OSError as error:
            raise Unusable(f"grading spec {path}: cannot read it ({error.strerror})") from None
        except tomllib.TOMLDecodeError as error:
            raise Unusable(f"grading spec {path}: not valid TOML ({error})") from None
    try:
        return _build_spec(path, raw)
    except (KeyError, TypeError, ValueError) as error:
        raise Unusable(f"grading spec {path or '(built-in)'}: {error.args[0]}") from None


def _section(raw: dict, name: str) -> dict:
    """One spec section over its defaults, refusing keys the grader does not know."""
    given = raw.get(name, {})
    if not isinstance(given, dict):
        raise TypeError(f"[{name}] must be a table")
    unknown = set(given) - set(DEFAULTS[name])
    if unknown:
        raise KeyError(f"unknown key(s) {', '.join(sorted(unknown))} in [{name}]")
    return DEFAULTS[name] | given


def _tolerances(raw: dict) -> list[Tolerance]:
    rules = raw.get("tolerance", [])
    if not isinstance(rules, list):
        raise TypeError("tolerances must be [[tolerance]] tables")
    tolerances = []
    for rule in rules:
        unknown = set(rule) - {f.name for f in dataclasses.fields(Tolerance)}
        if unknown or "match" not in rule:
            raise KeyError(f"[[tolerance]] {rule}: needs `match`, allows abs, rel, mean_abs "
                           f"(unknown: {', '.join(sorted(unknown)) or 'none'})")
        tolerance = Tolerance(str(rule["match"]), float(rule.get("abs", 0.0)),
                              float(rule.get("rel", 0.0)), rule.get("mean_abs"))
        if min(tolerance.abs, tolerance.rel, tolerance.mean_abs or 0.0) < 0:
            raise ValueError(f"[[tolerance]] {rule}: tolerances cannot be negative")
        tolerances.append(tolerance)
    return tolerances


def _build_spec(path: Path | None, raw: dict) -> Spec:
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown section(s) {', '.join(sorted(unknown))}")
    datasets, voltage, loading = (_section(raw, s) for s in ("datasets", "voltage", "loading"))
    energy, score = _section(raw, "energy"), _section(raw, "score")
    low, high = (float(v) for v in voltage["band"])
    if not 0 < low < high:
        raise ValueError(f"[voltage] band {voltage['band']} must be two p.u. values, low < high")
    weights = {name: float(score[name]) for name in CATEGORIES}
    if min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise ValueError("[score] weights must be non-negative and not all zero")
    grid = str(loading["grid"])
    grid_file = None if not grid else (Path(path).parent if path else REPO) / grid
    if grid_file is not None and not grid_file.is_file():
        raise ValueError(f"[loading] grid file {grid_file} does not exist")
    return Spec(
        file=Path(path) if path else None,
        allow_extra=bool(datasets["allow_extra"]), ignore=list(datasets["ignore"]),
        tolerances=_tolerances(raw), band=(low, high), max_loading=float(loading["max"]),
        grid_file=grid_file, max_negative_loss=float(energy["max_negative_loss"]),
        max_loss_share=float(energy["max_loss_share"]), energy_rel=float(energy["rel"]),
        weights=weights,
    )


def default_spec_file(scenario: str) -> Path | None:
    """``scenarios/<scenario>.grading.toml``, if the teacher wrote one."""
    candidate = REPO / "scenarios" / f"{scenario}.grading.toml"
    return candidate if candidate.is_file() else None

