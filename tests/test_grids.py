"""GRID=: the demo on a grid other than the lab's (smartgrid_lab.grids).

A SimBench grid with its own loads, PV and 15-minute profiles, and a
mosaik-pypower file of our own with the lab's houses and PV placed on its
load buses; every grid engine reads what the lab makes of them; and a grid that
cannot be used ends the run with one clear error.
"""

import json
import os
import random
import shutil
import warnings
import zipfile

import h5py
import numpy as np
import pytest
from mosaik_components.mosaik_pypower.mosaik import PyPower

from conftest import DEMO, REPO, free_port, make_in, run_scenario
from smartgrid_lab import datagen, grids, manifest, runs
from smartgrid_lab.inputs import InputError
from smartgrid_lab.rerun import rerun_command
from test_grid_engines import ENGINES, assert_same_results, random_loads, started

SIMBENCH = "simbench:1-LV-rural1--0-sw"  # 15 buses, 13 loads, 4 PV systems
UNTIL = 13 * 3600  # s: the run on a grid file ends at 13:00, its PV at noon

# A grid that is not the lab's: a 400 kVA transformer and one feeder of four nodes.
SMALL_GRID = {
    "bus": [["mv", "REF", 20.0], ["lv", "PQ", 0.4], ["n1", "PQ", 0.4], ["n2", "PQ", 0.4],
            ["n3", "PQ", 0.4], ["n4", "PQ", 0.4]],
    "trafo": [["t1", "mv", "lv", "T400", 1, 0]],
    "branch": [["l1", "lv", "n1", "NAYY_150", 0.1, 1], ["l2", "n1", "n2", "NAYY_150", 0.05, 1],
               ["l3", "n2", "n3", "NAYY_150", 0.05, 1], ["l4", "n2", "n4", "NAYY_150", 0.04, 1]],
    "trafo_types": {"T400": [0.4, 11.5, 577.4, 4.6, 11.5, 59.0, {"0": 1.0}]},
}


def demo(results, grid, run_id, *args):
    done = run_scenario(DEMO, "--results", str(results), "--run-id", run_id,
                        "--serve", f"127.0.0.1:{free_port()}", "--grid", str(grid), *args)
    record = json.loads((results / run_id / "manifest.json").read_text())
    return done, record


def series(hdf5_file, attr):
    """``{entity: values}`` of one attribute over the run."""
    with h5py.File(hdf5_file) as db:
        return {name: group[attr][()] for name, group in db["Series"].items() if attr in group}


@pytest.fixture(scope="module")
def simbench_run(tmp_path_factory):
    """The demo's day on the SimBench grid: (its directory, its manifest)."""
    results = tmp_path_factory.mktemp("results")
    done, record = demo(results, SIMBENCH, "simbench")
    assert done.returncode == 0, done.stderr
    return results / "simbench", record


def test_demo_day_on_a_simbench_grid(simbench_run):
    directory, record = simbench_run
    grid_file = directory / "grid" / "1-LV-rural1--0-sw.json"
    assert record["grid"] == {"kind": "simbench", "code": "1-LV-rural1--0-sw",
                              "file": grid_file.name, "sha256": manifest.sha256_file(grid_file),
                              "simbench_version": "1.6.1", "profile_day": "2016-06-18"}
    params = record["scenario"]["params"]
    assert (params["grid"], params["step"], params["pv_count"]) == (SIMBENCH, 900, 4)
    hdf5 = directory / "demo.hdf5"
    houses, pvs = series(hdf5, "P_out"), series(hdf5, "P")
    pvs = {name: p for name, p in pvs.items() if name.startswith("PV-")}
    assert len(houses) == 13 and len(pvs) == 4
    assert all(len(p) == 96 for p in houses.values())  # the day at 15-minute steps
    # PV feeds in by day only, each system its own profile and size
    assert all(p[:16].max() == 0 and p[44:56].min() < -1000 for p in pvs.values())
    assert len({p[48] for p in pvs.values()}) == 4
    volts = series(hdf5, "Vm")
    lv = np.array([v / 400 for name, v in volts.items() if "LV1.101" in name])
    assert 0.95 < lv.min() < lv.max() < 1.05


def test_demo_day_on_a_grid_file(tmp_path):
    path = tmp_path / "street.json"
    path.write_text(json.dumps(SMALL_GRID))
    done, record = demo(tmp_path, path, "street", "--until", str(UNTIL))
    assert done.returncode == 0, done.stderr
    assert record["grid"] == {"kind": "file", "source": str(path), "file": "street.json",
                              "sha256": manifest.sha256_file(path)}
    assert (tmp_path / "street" / "grid" / "street.json").read_bytes() == path.read_bytes()
    hdf5 = tmp_path / "street" / "demo.hdf5"
    houses = series(hdf5, "P_out")
    pvs = {name: p for name, p in series(hdf5, "P").items() if name.startswith("PV-")}
    # one house on each load bus (n1-n4, not the transformer's busbar), the lab's
    # share of PV (20 for 38 houses: 2 for 4) on buses drawn with the demo's seed
    assert len(houses) == 4 and len(pvs) == 2
    assert record["scenario"]["params"]["pv_count"] == 2
    with h5py.File(hdf5) as db:
        assert db.attrs["steps_recorded"] == UNTIL // 60  # one a minute, until 13:00
    supplied = series(hdf5, "P")["Grid-0.0-mv"]
    assert supplied[0] > 0 > supplied[UNTIL // 60 - 1]  # houses by night, PV feeding back by noon


def test_houses_and_pv_placement_rule():
    """One house per load bus; the lab's share of PV (20 for 38 houses), each on
    a bus drawn with the demo's seed: on the lab's grid exactly as before."""
    assert grids.load_buses(SMALL_GRID) == ["n1", "n2", "n3", "n4"]
    rng = random.Random(23)
    assert grids.placed(["n1", "n2", "n3", "n4"], 4) == [rng.choice(["n1", "n2", "n3", "n4"])
                                                         for _ in range(2)]
    lab = grids.prepare(None, None)
    rng, feeders = random.Random(23), sorted(datagen.lv_nodes())
    assert lab.pv_buses == [rng.choice(feeders) for _ in range(20)]
    assert (lab.step, lab.pv_attrs) == (60, ["P"] * 20)


# The same street in mosaik-pypower's other formats: old JSON (parameters inline) and Excel.
OLD_FORMAT = {
    "base_mva": 1, "bus": SMALL_GRID["bus"],
    "trafo": [["t1", "mv", "lv", 0.4, 4.0, 4.6, 11.5, 577.4]],
    "branch": [[bid, fbus, tbus, length, 0.2067, 0.0804, 0, 270]
               for bid, fbus, tbus, _, length, _ in SMALL_GRID["branch"]],
}
EXCEL = {
    "Nodes": [["id", "type", "base_kv"], *SMALL_GRID["bus"]],
    "Lines": [["id", "from", "to", "type", "length", "online", "tap"],
              ["t1", "mv", "lv", "T400", 1, 1, 0], *[row + [0] for row in SMALL_GRID["branch"]]],
    "Transformer types": [["name", "sr", "i_max_p", "i_max_s", "pl", "r", "x", "taps"],
                          ["T400", *SMALL_GRID["trafo_types"]["T400"][:-1], "{0: 1.0}"]],
}


def write_xlsx(path, sheets: dict) -> None:
    """A minimal Excel workbook, *sheets* as ``{name: rows}``, for xlrd to read."""
    main = "http://schemas.openxmlformats.org"
    rel = f"{main}/officeDocument/2006/relationships"
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml"

    def cell(row, col, value):
        ref = f"{chr(65 + col)}{row + 1}"
        return (f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
                if isinstance(value, str) else f'<c r="{ref}"><v>{value}</v></c>')

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", f'<Types xmlns="{main}/package/2006/content-types">'
                   f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                   f'package.relationships+xml"/><Override PartName="/xl/workbook.xml" '
                   f'ContentType="{sheet_type}.sheet.main+xml"/>' + "".join(
                       f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                       f'ContentType="{sheet_type}.worksheet+xml"/>' for i in range(len(sheets)))
                   + "</Types>")
        z.writestr("_rels/.rels", f'<Relationships xmlns="{main}/package/2006/relationships">'
                   f'<Relationship Id="r1" Type="{rel}/officeDocument" '
                   'Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{main}/spreadsheetml/2006/main" '
                   f'xmlns:r="{rel}"><sheets>' + "".join(
                       f'<sheet name="{name}" sheetId="{i + 1}" r:id="s{i}"/>'
                       for i, name in enumerate(sheets)) + "</sheets></workbook>")
        z.writestr("xl/_rels/workbook.xml.rels",
                   f'<Relationships xmlns="{main}/package/2006/relationships">' + "".join(
                       f'<Relationship Id="s{i}" Type="{rel}/worksheet" '
                       f'Target="worksheets/sheet{i}.xml"/>' for i in range(len(sheets)))
                   + "</Relationships>")
        for i, rows in enumerate(sheets.values()):
            z.writestr(f"xl/worksheets/sheet{i}.xml",
                       f'<worksheet xmlns="{main}/spreadsheetml/2006/main"><sheetData>' + "".join(
                           f'<row r="{r + 1}">' + "".join(cell(r, c, v) for c, v in enumerate(row))
                           + "</row>" for r, row in enumerate(rows)) + "</sheetData></worksheet>")


def grid_file(kind, directory, simbench_run):
    """(the file a user gives, the JSON the lab hands the engines) for each kind of grid."""
    if kind == "simbench":
        return None, simbench_run[0] / "grid" / "1-LV-rural1--0-sw.json"
    source = directory / {"file": "street.json", "old": "old.json", "excel": "street.xlsx"}[kind]
    if kind == "excel":
        write_xlsx(source, EXCEL)
    else:
        source.write_text(json.dumps(SMALL_GRID if kind == "file" else OLD_FORMAT))
    return source, grids.prepare(str(source), directory / "run").grid_file


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("kind", ["simbench", "file", "old", "excel"])
def test_every_engine_reads_the_grids_the_lab_makes(simbench_run, tmp_path, kind, engine):
    """Whatever the user gives, every engine reads the JSON the lab makes of it
    (an old-format or Excel file converted with what mosaik-pypower reads in it)."""
    source, gridfile = grid_file(kind, tmp_path, simbench_run)
    if kind == "file":
        assert gridfile.read_bytes() == source.read_bytes()
    pypower, entities = started(PyPower, gridfile)
    sim, same = started(ENGINES[engine], gridfile)
    assert same == entities
    children = entities[0]["children"]
    inputs = random_loads(random.Random(5), children)
    pypower.step(0, inputs, 60)
    sim.step(0, inputs, 60)
    assert_same_results(pypower, sim, children, (kind, engine))
    if kind in ("old", "excel"):
        original, original_entities = started(PyPower, source)
        original.step(0, inputs, 60)
        assert original_entities == entities
        assert_same_results(original, pypower, children, (kind, "converted"))


NO_LOAD_BUS = {"bus": [["mv", "REF", 20.0], ["lv", "PQ", 0.4]],
               "trafo": [["t1", "mv", "lv", "TRAFO_250", 1, 0]], "branch": []}


@pytest.mark.parametrize("grid, problem", [
    ("missing.json", "{tmp}/missing.json: does not exist or is not a file"),
    ("grid.csv", "{tmp}/grid.csv: has the extension '.csv'; expected a mosaik-pypower grid "
                 "file: .json or .xlsx."),
    ("broken.json", "{tmp}/broken.json, line 1: is not valid JSON"),
    ("no_load.json", "{tmp}/no_load.json: has no load bus"),
    ("simbench:1-LV-nowhere--0-sw", "simbench:1-LV-nowhere--0-sw: is not a SimBench grid code"),
    ("simbench:1-MV-urban--0-sw", "simbench:1-MV-urban--0-sw: has 139 loads and 0 PV systems; "
                                  "expected a grid with loads and PV systems"),
])
def test_a_grid_that_cannot_be_used_is_named_with_its_problem(tmp_path, grid, problem):
    (tmp_path / "broken.json").write_text('{"bus": [')
    (tmp_path / "no_load.json").write_text(json.dumps(NO_LOAD_BUS))
    (tmp_path / "grid.csv").write_text("a,b\n")
    spec = grid if grid.startswith("simbench:") else str(tmp_path / grid)
    with pytest.raises(InputError) as error:
        grids.prepare(spec, tmp_path / "run")
    assert str(error.value).startswith(problem.format(tmp=tmp_path))


def test_the_demo_ends_with_one_clear_error_on_an_unusable_grid(tmp_path):
    done, record = demo(tmp_path, tmp_path / "nowhere.json", "nowhere")
    assert done.returncode == 1
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: run nowhere of scenario demo failed: {tmp_path}/nowhere.json: "
                            "does not exist or is not a file; expected"), done.stderr
    assert record["status"] == "failed"
    assert record["scenario"]["params"]["grid"] == str(tmp_path / "nowhere.json")


def test_other_scenarios_refuse_a_grid(tmp_path):
    done = run_scenario(DEMO.parent / "voltage.py", "--results", str(tmp_path), "--grid",
                        SIMBENCH)
    assert done.returncode == 2
    assert done.stderr.startswith("error: scenario voltage runs on the lab's grid only, not "
                                  f"on GRID={SIMBENCH}")


def test_make_up_may_put_the_grid_file_in_the_runs_input_folder(tmp_path):
    """`make up GRID=file` copies the file to results/<run>/input/ before the
    master starts; the run may start there, not in a folder with anything else."""
    (tmp_path / "mine" / "input").mkdir(parents=True)
    args = runs.parse_args(["--results", str(tmp_path), "--run-id", "mine", "--grid",
                            "results/mine/input/street.json"])
    assert runs.new_run(args, "demo").grid == "results/mine/input/street.json"
    (tmp_path / "mine" / "demo.hdf5").write_text("")
    with pytest.raises(runs.RunError, match="already exists"):
        runs.new_run(args, "demo")


def test_a_rerun_runs_on_the_same_grid(tmp_path):
    record = {"mode": "local", "scenario": {"file": "scenarios/demo.py", "name": "demo",
                                            "params": {"grid": SIMBENCH}},
              "simulators": {}}
    command = rerun_command(record, tmp_path, "again")
    assert command[command.index("--grid") + 1] == SIMBENCH
    record.update(mode="containers", scenario={**record["scenario"], "rt_factor": 0})
    assert f"GRID={SIMBENCH}" in rerun_command(record, tmp_path, "again")
    record["scenario"]["params"]["grid"] = "lab"
    assert "GRID=" in rerun_command(record, tmp_path, "again")


@pytest.mark.docker
@pytest.mark.parametrize("kind", ["simbench", "file"])
def test_make_up_and_run_local_on_another_grid_agree(tmp_path, kind):
    """The user's commands, `make up GRID=...` in containers and `make
    run-local GRID=...` in one process, on a SimBench grid and on a grid file:
    both complete on that grid, with bit-identical datasets."""
    grid = SIMBENCH
    if kind == "file":
        grid = tmp_path / "small.json"
        grid.write_text(json.dumps(SMALL_GRID))
    run_id, project = f"test-grid-{kind}-{os.getpid()}", f"sgl-test-grid-{os.getpid()}"
    settings = [f"GRID={grid}", f"RUN_ID={run_id}"]
    try:
        up = make_in(REPO, "up", *settings, f"COMPOSE_PROJECT={project}",
                     f"LAB_WEB_PORT={free_port()}")
        assert up.returncode == 0, up.stdout + up.stderr
        local = make_in(REPO, "run-local", *settings, f"LAB_WEB_PORT={free_port()}")
        assert local.returncode == 0, local.stdout + local.stderr
        remote, here = (json.loads((REPO / "results" / name / "manifest.json").read_text())
                        for name in (run_id, f"{run_id}-local"))
        assert remote["status"] == here["status"] == "completed"
        assert remote["grid"]["sha256"] == here["grid"]["sha256"]
        assert remote["hdf5"]["datasets"] == here["hdf5"]["datasets"]
    finally:
        make_in(REPO, "down", f"COMPOSE_PROJECT={project}", f"GRID={grid}")
        for name in (run_id, f"{run_id}-local"):
            shutil.rmtree(REPO / "results" / name, ignore_errors=True)


def test_bus_bus_switches_merge_their_buses_or_join_nothing(tmp_path):
    """SimBench's MV grids have bus-bus switches (here between the substation's
    two busbars on either side): a closed one merges its buses into the one
    with the lower index, which keeps its name and all elements; an open one
    joins nothing. Both engines read the merged grid and agree."""
    import simbench

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        net = simbench.get_simbench_net("1-MV-rural--0-sw")  # 97 buses, 2 bus-bus switches
    assert list(zip(net.switch.bus[net.switch.et == "b"], net.switch.element[net.switch.et == "b"])
                ) == [(0, 1), (2, 3)]
    case = grids.simbench_case(net, "1-MV-rural--0-sw")
    buses = [bid for bid, _, _ in case["bus"]]
    assert len(buses) == 95 and "MV1.101_busbar1.2" not in buses and "HV1_Bus_18" not in buses
    assert case["bus"][0] == ["HV1_Bus_17", "REF", 110.0]
    ends = {bus for row in case["trafo"] + case["branch"] for bus in row[1:3]}
    assert ends <= set(buses) and "MV1.101_busbar1.1" in ends
    net.switch.loc[net.switch.et == "b", "closed"] = False
    assert len(grids.simbench_case(net, "1-MV-rural--0-sw")["bus"]) == 97
    gridfile = tmp_path / "mv.json"
    gridfile.write_text(datagen.grid_json(case))
    pypower, entities = started(PyPower, gridfile)
    children = entities[0]["children"]
    inputs = random_loads(random.Random(11), children, scale=100)
    pypower.step(0, inputs, 60)
    for engine in ENGINES.values():
        sim, same = started(engine, gridfile)
        assert same == entities
        sim.step(0, inputs, 60)
        assert_same_results(pypower, sim, children, (engine.__name__,))
