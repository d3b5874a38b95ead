"""The grid a run simulates (``GRID=``) and the input files its simulators read.

A scenario that takes a grid calls :func:`prepare` with the user's choice:

- nothing: the lab's own grid, ``data/grid.json`` with ``data/households.data``
  and ``data/pv.csv``, read where they are (so the default run is unchanged);
- a path: any grid file mosaik-pypower reads (JSON, new or old format, or
  Excel ``.xlsx``). The engines are handed it in mosaik-pypower's new JSON
  format, the one every grid engine reads: a new-format JSON file byte for byte,
  anything else converted through mosaik-pypower's own readers. Such a file
  brings no profiles, so houses and PV systems are placed by :func:`placed`;
- ``simbench:<code>``: a SimBench benchmark grid (the ``simbench`` package
  ships grids and one-year profiles, nothing is downloaded), converted to
  mosaik-pypower's JSON plus a household file and a PV series from the
  grid's own loads and PV systems and their 15-minute profiles.

Every file the simulators read is then in the run's folder (``grid/``), which
the simulator containers see too. A grid that cannot be used raises one
:class:`InputError` naming the file or code and the problem.
"""

import dataclasses
import json
import math
import random
import shutil
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

from mosaik_components.mosaik_pypower import model as pypower_model

from smartgrid_lab import datagen, manifest
from smartgrid_lab.inputs import InputError, check_grid

LAB_STEP = 60  # s: the lab's profiles have one value a minute
SIMBENCH_STEP = 900  # s: SimBench's profiles have one value every 15 minutes
SIMBENCH = "simbench:"
PV_SEED = 23  # which load bus each PV system goes to
PV_SHARE = (20, 38)  # the lab's 20 PV systems for 38 houses
SIMBENCH_YEAR = 2016  # the year of SimBench's profiles


@dataclasses.dataclass
class GridInputs:
    """What the grid, household and PV simulators of a run read."""

    grid_file: Path
    households_file: Path
    pv_file: Path
    step: int
    """Seconds between two values of the profiles: every simulator's step."""
    pv_buses: list[str]
    """The bus of each PV system, in the order the scenario creates them."""
    pv_attrs: list[str]
    """The column of the PV file each PV system reads (mosaik-csv gives every
    entity every column): ``P``, or ``P_<i>`` for a SimBench grid's PV system i."""
    facts: dict
    """What the manifest records about the grid."""


def prepare(grid: str | None, directory: Path, start: str = datagen.START) -> GridInputs:
    """The input files of *grid* (None: the lab's), written into *directory*/grid."""
    if not grid:
        grid_file = datagen.DATA_DIR / datagen.GRID_FILE
        households = datagen.DATA_DIR / datagen.HOUSEHOLDS_FILE
        pv_buses = placed(load_buses(json.loads(grid_file.read_text())),
                          len(house_buses(households)))
        return GridInputs(grid_file, households, datagen.DATA_DIR / datagen.PV_FILE, LAB_STEP,
                          pv_buses, ["P"] * len(pv_buses),
                          {"kind": "lab", "file": f"data/{datagen.GRID_FILE}",
                           "sha256": manifest.sha256_file(grid_file)})
    out = Path(directory) / "grid"
    out.mkdir(parents=True, exist_ok=True)
    if grid.startswith(SIMBENCH):
        return from_simbench(grid.removeprefix(SIMBENCH), out, start)
    return from_file(Path(grid), out)


def house_buses(households_file: Path) -> list[str]:
    """The bus of each house in a household file (its id_list)."""
    text = Path(households_file).read_text()
    return json.loads(text.split("# id_list\n")[1].split("# attrs")[0])[datagen.GRID_NAME]


def load_buses(case: dict) -> list[str]:
    """Where houses and PV systems go on a grid without profiles: the PQ buses
    at the grid's lowest voltage that are no transformer's end (a substation's
    busbar feeds the feeders, it houses nobody), sorted by id."""
    trafo_ends = {bus for row in case["trafo"] for bus in row[1:3]}
    pq = [(bid, kv) for bid, btype, kv in case["bus"] if btype == "PQ"]
    lowest = min((kv for _, kv in pq), default=None)
    return sorted(bid for bid, kv in pq if kv == lowest and bid not in trafo_ends)


def placed(buses: list[str], houses: int) -> list[str]:
    """The bus of each PV system: the lab's share of PV per house (20 for 38),
    each on a bus drawn with ``random.Random(PV_SEED).choice`` (as the demo
    always did on the lab's grid)."""
    rng = random.Random(PV_SEED)
    count = max(1, round(houses * PV_SHARE[0] / PV_SHARE[1]))
    return [rng.choice(buses) for _ in range(count)]


def from_file(source: Path, out: Path) -> GridInputs:
    """A mosaik-pypower grid file, with the lab's profiles placed on its load buses."""
    if source.suffix not in (".json", ".xlsx"):
        raise InputError(source, f"has the extension {source.suffix!r}",
                         "a mosaik-pypower grid file: .json or .xlsx")
    if not source.is_file():
        raise InputError(source, "does not exist or is not a file", "a mosaik-pypower grid file")
    grid_file = out / f"{source.stem}.json"
    if source.suffix == ".json":
        check_grid(source)
        case = json.loads(source.read_text())
    if source.suffix == ".json" and "base_mva" not in case:
        shutil.copyfile(source, grid_file)
    else:
        case = new_format(source)
        grid_file.write_text(datagen.grid_json(case))
        try:
            check_grid(grid_file)
        except InputError as error:
            raise InputError(f"{source} (as {grid_file.name})", error.problem, error.expected,
                             at=error.at) from None
    buses = load_buses(case)
    if not buses:
        raise InputError(source, "has no load bus (a PQ bus at its lowest voltage that is "
                         "no transformer's end) for houses and PV systems",
                         "at least one such bus")
    households = out / datagen.HOUSEHOLDS_FILE
    lines = (datagen.DATA_DIR / datagen.HOUSEHOLDS_FILE).read_text().split("\n")
    lines[3] = json.dumps({datagen.GRID_NAME: buses})  # the id_list: one house a bus
    households.write_text("\n".join(lines))
    pv_buses = placed(buses, len(buses))
    return GridInputs(grid_file, households, datagen.DATA_DIR / datagen.PV_FILE, LAB_STEP,
                      pv_buses, ["P"] * len(pv_buses),
                      {"kind": "file", "source": str(source), "file": grid_file.name,
                       "sha256": manifest.sha256_file(source)})


def new_format(source: Path) -> dict:
    """An old-format JSON or an Excel grid in mosaik-pypower's new JSON format,
    read by mosaik-pypower's own readers: the same parameters it would use
    (one type per element, named after it)."""
    loader = pypower_model.JSON if source.suffix == ".json" else pypower_model.Excel
    try:
        raw = loader.open(str(source))
        buses = [[str(bid), btype, kv] for bid, btype, kv in loader.buses(raw, {})]
        statics = {f"0-{bid}": {"static": {"Vl": kv * 1000}} for bid, _, kv in buses}
        case = {"bus": buses, "trafo": [], "branch": [], "trafo_types": {},
                "branch_types": {}}
        for is_trafo, bid, fbus, tbus, length, info, online, tap in loader.branches(
                raw, statics, {}):
            if is_trafo:
                *params, taps = info
                case["trafo_types"][bid] = [*params, {str(int(k)): v for k, v in taps.items()}]
                case["trafo"].append([bid, fbus, tbus, bid, int(online), int(tap)])
            else:
                case["branch_types"][bid] = list(info)
                case["branch"].append([bid, fbus, tbus, bid, length, int(online)])
    except Exception as error:  # noqa: BLE001 - xlrd and the reader fail in many ways
        raise InputError(source, f"cannot be read by mosaik-pypower ({type(error).__name__}: "
                         f"{error})", "sheets 'Nodes', 'Lines' (and 'Line types', "
                         "'Transformer types') as mosaik-pypower's Excel reader wants them"
                         ) from None
    return case


def from_simbench(code: str, out: Path, start: str) -> GridInputs:
    """A SimBench grid as mosaik-pypower JSON, with its loads and PV systems and
    their profiles for the simulated day."""
    import simbench  # only here: loading it takes a second

    if code not in simbench.collect_all_simbench_codes():
        raise InputError(SIMBENCH + code, "is not a SimBench grid code",
                         "a code like simbench:1-LV-rural1--0-sw "
                         "(simbench.collect_all_simbench_codes() lists them)")
    with warnings.catch_warnings():  # simbench's own pandas FutureWarnings: not the user's
        warnings.simplefilter("ignore", FutureWarning)
        net = simbench.get_simbench_net(code)
    case = simbench_case(net, SIMBENCH + code)
    grid_file = out / f"{code}.json"
    grid_file.write_text(datagen.grid_json(case))
    check_grid(grid_file)
    day = profile_day(start)
    names = bus_names(net)
    loads = net.load[net.load.in_service]
    pvs = net.sgen[net.sgen.in_service & net.sgen.type.isin(["PV", "PV_MV"])]
    if loads.empty or pvs.empty:
        raise InputError(SIMBENCH + code, f"has {len(loads)} loads and {len(pvs)} PV systems",
                         "a grid with loads and PV systems (sgen of type PV or PV_MV)")
    first = (day - date(SIMBENCH_YEAR, 1, 1)).days * 96
    rows = slice(first, first + 97)  # the day and the next midnight, as the lab's files
    # one column per load and PV system, in W, taken and formatted whole (10,000 loads: seconds)
    # (the day's rows first: all columns of a year for 11,542 loads would take 3 GB)
    load_w = (net.profiles["load"].iloc[rows][[f"{name}_pload" for name in loads.profile]]
              .clip(lower=0).to_numpy() * (1e6 * loads.p_mw.to_numpy()))
    pv_w = 0.0 - (net.profiles["renewables"].iloc[rows][list(pvs.profile)].clip(lower=0)
                  .to_numpy() * (1e6 * pvs.p_mw.to_numpy()))  # (0.0 - x: no "-0.0" at night)
    stamps = [datetime.fromisoformat(start) + timedelta(minutes=15 * k) for k in range(97)]
    households = out / datagen.HOUSEHOLDS_FILE
    meta = {"num_profiles": len(loads), "resolution": SIMBENCH_STEP // 60,
            "start_date": f"{stamps[0]:%Y-%m-%d %H:%M}", "unit": "W"}
    lines = ["# meta", json.dumps(meta, sort_keys=True), "# id_list",
             json.dumps({datagen.GRID_NAME: [names[bus] for bus in loads.bus]}), "# attrs",
             "num_hh," + ",".join("1" for _ in loads.index),
             "num_residents," + ",".join("1" for _ in loads.index), "# profiles"]
    lines += [f"{stamp:%Y-%m-%d %H:%M}," + ",".join(f"{p:.1f}" for p in row)
              for stamp, row in zip(stamps, load_w.tolist())]
    households.write_text("\n".join(lines) + "\n")
    pv_file = out / datagen.PV_FILE
    attrs = [f"P_{i}" for i in range(len(pvs))]
    lines = ["PV", ",".join(["Date", *attrs])]
    lines += [f"{stamp:%Y-%m-%d %H:%M:%S}," + ",".join(f"{p:.1f}" for p in row)
              for stamp, row in zip(stamps, pv_w.tolist())]
    pv_file.write_text("\n".join(lines) + "\n")
    return GridInputs(grid_file, households, pv_file, SIMBENCH_STEP,
                      [names[bus] for bus in pvs.bus], attrs,
                      {"kind": "simbench", "code": code, "file": grid_file.name,
                       "sha256": manifest.sha256_file(grid_file),
                       "simbench_version": simbench.__version__, "profile_day": str(day)})


def profile_day(start: str) -> date:
    """The day of SimBench's profile year that stands for the simulated day: the
    same weekday on or just before the same date (the lab's Saturday
    2025-06-21 -> Saturday 2016-06-18), so weekday load shapes stay right."""
    day = datetime.fromisoformat(start).date()
    same_date = date(SIMBENCH_YEAR, day.month, day.day)
    return same_date - timedelta(days=(same_date.weekday() - day.weekday()) % 7)


def kept_buses(net) -> dict[int, int]:
    """The bus each bus of *net* is in the converted grid: a closed bus-bus switch
    merges its two buses into the one with the lower index (a union-find), which
    mosaik-pypower's format, having no switches, can express; an open one joins
    nothing."""
    kept = {index: index for index in net.bus.index}

    def root(bus):
        while kept[bus] != bus:
            bus = kept[bus]
        return bus

    closed = net.switch[(net.switch.et == "b") & net.switch.closed]
    for bus, other in zip(closed.bus, closed.element):
        bus, other = root(bus), root(other)
        kept[max(bus, other)] = min(bus, other)
    return {index: root(index) for index in kept}


def bus_names(net) -> dict[int, str]:
    """SimBench's bus names as ids, without spaces (they become mosaik entity ids);
    a bus merged into another (:func:`kept_buses`) has the kept bus's name."""
    return {index: str(net.bus.name[kept]).replace(" ", "_")
            for index, kept in kept_buses(net).items()}


def simbench_case(net, code: str) -> dict:
    """A pandapower net of SimBench in mosaik-pypower's new JSON format.

    The slack (``ext_grid``) bus is the REF bus (mosaik-pypower holds it at
    1.0 p.u.); line capacitance is written as C'/3 because mosaik-pypower
    models 3·C' (see smartgrid_lab.pandapower_grid); transformers get R and X
    referred to their high-voltage side, their load losses as P_loss and
    their tap changer as taps; an open switch takes its line or transformer
    offline; a closed bus-bus switch merges its buses (:func:`kept_buses`), an
    open one is left out. Loads' reactive power and transformers' phase shift and
    magnetising losses are left out, as in the lab's own grid.
    """
    names = bus_names(net)
    if len(net.ext_grid) != 1 or net.bus.vn_kv[net.ext_grid.bus.iloc[0]] not in (20, 110):
        raise InputError(code, "does not have one slack bus at 20 or 110 kV",
                         "a low- or medium-voltage SimBench grid (mosaik-pypower knows "
                         "the per-unit base of a 20 or 110 kV slack only)")
    open_switches = net.switch[~net.switch.closed]
    offline = {(et, element) for et, element in zip(open_switches.et, open_switches.element)}
    kept = kept_buses(net)
    ref = kept[net.ext_grid.bus.iloc[0]]
    case = {"bus": [[names[ref], "REF", float(net.bus.vn_kv[ref])]], "trafo": [], "branch": [],
            "trafo_types": {}, "branch_types": {}}
    case["bus"] += [[names[i], "PQ", float(kv)] for i, kv in net.bus.vn_kv.items()
                    if i != ref and kept[i] == i]
    for i, t in net.trafo.iterrows():
        z_base = t.vn_hv_kv**2 / t.sn_mva
        r = t.vkr_percent / 100 * z_base
        x = math.sqrt(t.vk_percent**2 - t.vkr_percent**2) / 100 * z_base
        has_taps = not math.isnan(t.tap_step_percent)
        step = t.tap_step_percent / 100 if has_taps else 0
        positions = range(int(t.tap_min - t.tap_neutral), int(t.tap_max - t.tap_neutral) + 1)
        # a tap turn k raises the low-voltage side by this ratio (mosaik-pypower's taps)
        taps = {str(k): 1 / (1 + k * step) if t.tap_side == "hv" else 1 + k * step
                for k in (positions if has_taps else [0])}
        params = [t.sn_mva, round(t.sn_mva / (math.sqrt(3) * t.vn_hv_kv) * 1000, 3),
                  round(t.sn_mva / (math.sqrt(3) * t.vn_lv_kv) * 1000, 2),
                  round(t.vkr_percent * t.sn_mva * 10, 3), round(r, 6), round(x, 6), taps]
        ttype = type_name(case["trafo_types"], t.std_type, t["name"], params)
        tap = int(t.tap_pos - t.tap_neutral) if has_taps else 0
        case["trafo"].append([str(t["name"]).replace(" ", "_"), names[t.hv_bus], names[t.lv_bus],
                              ttype, int(t.in_service and ("t", i) not in offline), tap])
    for i, line in net.line.iterrows():
        params = [line.r_ohm_per_km / line.parallel, line.x_ohm_per_km / line.parallel,
                  round(line.c_nf_per_km * line.parallel / 3, 6),
                  line.max_i_ka * 1000 * line.parallel]
        ltype = type_name(case["branch_types"], line.std_type, line["name"], params)
        case["branch"].append([str(line["name"]).replace(" ", "_"), names[line.from_bus],
                               names[line.to_bus], ltype, float(line.length_km),
                               int(line.in_service and ("l", i) not in offline)])
    return case


def type_name(types: dict, std_type, element: str, params: list) -> str:
    """The name of a cable or transformer type with *params* in *types*: its
    standard type's (else the element's), suffixed if another type has that name."""
    name, k = std_type if isinstance(std_type, str) else str(element), 1
    while name in types and types[name] != params:
        k += 1
        name = f"{name} #{k}"
    types[name] = params
    return name
