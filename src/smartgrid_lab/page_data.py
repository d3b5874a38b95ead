"""What the page shows of a run, computed from its series: one summary per
step (:func:`summarise`), each objective's KPI as it accumulates
(:class:`Observed`, :func:`objective_points`), the finished runs in
``results/`` (:func:`past_runs`) and one of them read back for replay
(:func:`replay`).

An objective's KPI "so far" at a step is the KPI of the run as if it had
ended there: the same :mod:`smartgrid_lab.kpis` function over the steps up to
it, every ``OBJECTIVES_EVERY`` steps. That needs no KPI to be rewritten
incrementally, and costs a few milliseconds per point.
"""

import json
import math
from pathlib import Path

import numpy as np

from smartgrid_lab import exercises, kpis, runs

OBJECTIVES_EVERY = 15  # steps between two points of each objective's curve
PAST_RUNS = 30  # the newest runs the panel lists


def summarise(topology: dict, node_data: dict) -> dict:
    """One step for the panel, from the nodes' values by their type's ``cls``.

    ``pqbus`` types with a ``nominal`` voltage and a ``band`` (p.u.) give the
    lowest and highest voltage (p.u.) and the nodes outside the band;
    ``refbus`` the transformer's power, ``load`` the households' and ``gen``
    the generators' feed-in (kW, from W; generation is negative in W, a
    positive feed-in here). Nodes without a value (None) are left out.
    """
    volts, out_of_band, watts = [], [], {"refbus": 0.0, "load": 0.0, "gen": 0.0}
    for node in topology["nodes"]:
        etype = topology["etypes"].get(node["type"], {})
        value = node_data[node["name"]]["value"]
        if value is None:
            continue
        if etype.get("cls") == "pqbus" and "nominal" in etype:
            volts.append(value / etype["nominal"])
            low, high = etype["band"]
            if not low <= volts[-1] <= high:
                out_of_band.append(node["name"])
        elif etype.get("cls") in watts:
            watts[etype["cls"]] += value
    return {"v_min": round(min(volts), 5) if volts else None,
            "v_max": round(max(volts), 5) if volts else None,
            "out_of_band": out_of_band,
            "trafo_kw": round(watts["refbus"] / 1e3, 3),
            "load_kw": round(watts["load"] / 1e3, 3),
            "pv_kw": round(-watts["gen"] / 1e3, 3)}


def describe(objectives) -> list[dict]:
    """What the panel draws each objective against: title, unit, threshold."""
    return [{"id": o.id, "title": o.title_en, "unit": kpis.KPIS[o.kpi].unit,
             "threshold": o.threshold,
             "limit": o.at_most if o.at_most is not None else o.at_least,
             "at_most": o.at_most is not None} for o in objectives if o.kpi in kpis.KPIS]


def objective_point(data: kpis.RunData, objectives) -> dict:
    """Each objective's KPI over every step in *data*, at its last step
    (None where it cannot be computed yet, e.g. no PV before sunrise)."""
    values = {}
    for objective in objectives:
        try:
            value = kpis.compute(data, objective.kpi, **objective.params).value
        except ValueError:  # an exercise.toml `make grade` reports as wrong
            value = math.nan
        values[objective.id] = value if math.isfinite(value) else None
    return {"time": (data.steps_computed - 1) * data.step_seconds, **values}


def objective_points(data: kpis.RunData, objectives) -> list[dict]:
    """:func:`objective_point` every OBJECTIVES_EVERY steps and at the last."""
    ends = [*range(OBJECTIVES_EVERY, data.steps_computed, OBJECTIVES_EVERY),
            data.steps_computed]
    return [objective_point(first(data, end), objectives) for end in ends if end > 0]


def first(data: kpis.RunData, steps: int) -> kpis.RunData:
    """*data* cut after its first *steps* steps."""
    series = {entity: {attr: values[:steps] for attr, values in attrs.items()}
              for entity, attrs in data.series.items()}
    return kpis.RunData(series, data.types, data.step_seconds, min(steps, data.steps_computed))


class Observed:
    """The values a live run sends the page, step by step, as series the
    KPIs read: what the recorder records (runs.show_recorded).  Each series
    is an array with room to grow, so that the KPIs read views, not copies."""

    def __init__(self, step_seconds: int):
        self.step_seconds = step_seconds
        self.series = {}  # {entity: {attr: array, NaN beyond the steps observed}}
        self.types = {}  # {entity: mosaik type}
        self.steps = 0
        self.room = 64  # steps every array holds

    def add(self, inputs: dict) -> None:
        """One step's inputs, ``{attr: {entity: value}}`` as mosaik gives them;
        a value missing at a step reads NaN."""
        if self.steps == self.room:
            self.room *= 2
            for attrs in self.series.values():
                for attr, values in attrs.items():
                    attrs[attr] = np.concatenate([values, np.full(values.size, np.nan)])
        for attr, values in inputs.items():
            for entity, value in values.items():
                attrs = self.series.setdefault(entity, {})
                if attr not in attrs:
                    attrs[attr] = np.full(self.room, np.nan)
                attrs[attr][self.steps] = np.nan if value is None else value
        self.steps += 1

    def data(self) -> kpis.RunData:
        series = {entity: {attr: values[:self.steps] for attr, values in attrs.items()}
                  for entity, attrs in self.series.items()}
        types = {entity: self.types.get(entity) or kpis.infer_type(entity) for entity in series}
        return kpis.RunData(series, types, self.step_seconds, self.steps)


def past_runs(results: Path) -> list[dict]:
    """The newest finished runs in *results*, newest first, as their
    manifests tell (a run still going has none yet; a manifest being
    written is skipped); ``replay`` says whether its HDF5 file can be."""
    listed = []
    for path in results.glob("*/manifest.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        listed.append({**{key: record.get(key) for key in (
            "run_id", "exercise", "mode", "status", "error", "started_utc",
            "wall_seconds", "simulated_seconds_reached")},
            "replay": "datasets" in (record.get("hdf5") or {})})
    listed.sort(key=lambda run: run["started_utc"] or "", reverse=True)
    return listed[:PAST_RUNS]


def replay(directory: Path, topology: dict) -> dict:
    """A finished run read back for the page: its manifest's summary, the
    values of the page's topology nodes and the panel's summary at every
    step, its objectives as they accumulated, and its grade if it was graded.

    The summaries count the run's entities by the types its own page showed
    (its manifest's ``page_etypes``; the types of this page for older runs);
    the topology is this page's, coloured with the run's values of the
    same entities.  Raises OSError if the HDF5 file cannot be read.
    """
    record = json.loads((directory / "manifest.json").read_text())
    data = kpis.RunData.load(directory / record["hdf5"]["file"])  # read-only
    params = record.get("scenario", {}).get("params", {})
    data.step_seconds = params.get("step", data.step_seconds)
    etypes = {**topology["etypes"], **(record.get("page_etypes") or {})}
    shown = {"etypes": etypes, "nodes": [{"name": entity, "type": etype}
                                         for entity, etype in data.types.items()
                                         if etype in etypes]}
    summaries = columns_by_step(data, shown)
    names = [node["name"] for node in topology["nodes"]]
    values = [list(row.values()) for row in columns_by_step(data, {**topology, "etypes": etypes})]
    steps = [{"time": step * data.step_seconds,
              "progress": 100 * (step + 1) / data.steps_computed, "wall": None,
              **summarise(shown, {name: {"value": value} for name, value in row.items()})}
             for step, row in enumerate(summaries)]
    objectives = exercises.objectives_of(record.get("exercise"))
    grade_file = directory / "grading" / "grade.json"
    return {
        "run": {**{key: record.get(key) for key in (
            "run_id", "exercise", "mode", "status", "error", "started_utc", "wall_seconds",
            "simulated_seconds_reached")},
            "scenario": record.get("scenario", {}).get("name"),
            "swapped": record.get("swapped") or {}},
        "start_date": str(params.get("start", "")).replace(" ", "T"),
        "steps": steps,
        "nodes": {"names": names, "values": values},
        "objectives": describe(objectives),
        "points": objective_points(data, objectives),
        "grade": (json.loads(grade_file.read_text(), parse_constant=lambda nan: None)
                  if grade_file.is_file() else None),
    }


def columns_by_step(data: kpis.RunData, topology: dict) -> list[dict]:
    """``{node: value}`` of the *topology*'s nodes at every computed step."""
    columns = {node["name"]: node_values(data, node, topology["etypes"])
               for node in topology["nodes"]}
    return [{name: column[step] for name, column in columns.items()}
            for step in range(data.steps_computed)]


def node_values(data: kpis.RunData, node: dict, etypes: dict) -> list[float | None]:
    """A topology node's shown attribute at every computed step, as the run
    recorded it (None where it did not: NaN is no JSON)."""
    attr = etypes.get(node["type"], {}).get("attr")
    recorded = data.series.get(node["name"], {}).get(attr)
    if recorded is None:
        return [None] * data.steps_computed
    return [round(float(v), 3) if math.isfinite(v) else None
            for v in recorded[:data.steps_computed]]


def run_directory(results: Path, run_id: str) -> Path | None:
    """The folder of run *run_id* in *results*, if that is a run id with a
    manifest (nothing else of the file system gets out)."""
    if not runs.RUN_ID.fullmatch(run_id):
        return None
    directory = results / run_id
    return directory if (directory / "manifest.json").is_file() else None
