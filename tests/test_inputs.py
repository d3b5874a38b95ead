"""Tests of the pre-flight input check (smartgrid_lab.inputs).

The broken files here are (nearly all) the committed files with one edit,
as a lab room would break them; each test asserts that the message names the file, the line
(or JSON path) and the problem. The property tests mutate the real files at
random and demand: the check either passes or raises InputError (nothing
else), and whatever it lets through, the upstream loaders read without
error and without NaN.
"""

import json
import math
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mosaik_components.household.model import HouseModel
from mosaik_components.mosaik_pypower import model as pp_model
from mosaik_csv import CSV

from smartgrid_lab import datagen
from smartgrid_lab.inputs import (InputError, check_grid, check_households, check_inputs,
                                  check_pv)

DATA = Path(__file__).resolve().parents[1] / "data"
GRID, HOUSES, PV = (DATA / name for name in datagen.FILES)
START = datagen.START
STEPS = 24 * 60  # the demo: one-minute steps for a day
GRID_NAME = datagen.GRID_NAME
PQ_BUSES = ["tr_sec", *datagen.lv_nodes()]


def real(path: Path) -> str:
    return path.read_text()


def lines_of(text: str) -> list[str]:
    return text.split("\n")


def line_no(text: str, needle: str) -> int:
    """1-based number of the only line containing *needle*."""
    found = [i + 1 for i, line in enumerate(lines_of(text)) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(check, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        check(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message  # one paragraph for the runner's error line
    return message


# --- The committed data ----------------------------------------------------------------


def test_committed_data_passes():
    assert check_inputs(DATA, GRID_NAME, STEPS, start=START) is None
    assert check_inputs(DATA, GRID_NAME, STEPS) is None
    assert check_grid(GRID) == PQ_BUSES


def test_check_inputs_names_the_broken_file(tmp_path):
    for name in datagen.FILES:
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / datagen.PV_FILE).write_text(real(PV).replace("00:07:00,0.0", "00:07:00,nan"))
    message = error_of(check_inputs, tmp_path, GRID_NAME, STEPS, start=START)
    assert message.startswith(f"{tmp_path / datagen.PV_FILE}, line 10: P is 'nan'")


def test_missing_file(tmp_path):
    message = error_of(check_pv, tmp_path / "pv.csv", STEPS)
    assert "pv.csv: cannot be read (No such file or directory)" in message


def test_error_survives_pickling():
    error = InputError("x.csv", "P is 'nan'", "a number", line=3, at="row")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


# --- grid.json ----------------------------------------------------------------------------


def grid_variant(tmp_path, old: str, new: str) -> Path:
    """grid.json with the first *old* replaced by *new*."""
    text = real(GRID)
    assert old in text, old
    return write(tmp_path, "grid.json", text.replace(old, new, 1))


def grid_case_variant(tmp_path, edit) -> Path:
    case = json.loads(real(GRID))
    edit(case)
    return write(tmp_path, "grid.json", json.dumps(case, indent=1))


def test_grid_malformed_json(tmp_path):
    path = grid_variant(tmp_path, '"NAYY_4x150_SE", 0.08, 1],', '"NAYY_4x150_SE", 0.08, 1]')
    message = error_of(check_grid, path)
    assert message.startswith(f"{path}, line 4: is not valid JSON (Expecting ',' delimiter")


def test_grid_with_byte_order_mark(tmp_path):
    path = write(tmp_path, "grid.json", "\ufeff" + real(GRID))
    assert f"{path}, line 1: starts with a byte-order mark (BOM)" in error_of(check_grid, path)


def test_grid_not_an_object(tmp_path):
    message = error_of(check_grid, write(tmp_path, "grid.json", "[1, 2]"))
    assert "top level: the file holds [1, 2]; expected a JSON object" in message


def test_grid_missing_key(tmp_path):
    path = grid_case_variant(tmp_path, lambda case: case.pop("trafo"))
    message = error_of(check_grid, path)
    assert message.startswith(f"{path}, trafo: the key 'trafo' is missing")


def test_grid_branch_to_unknown_bus(tmp_path):
    path = grid_variant(tmp_path, '"node_a3", "node_a4"', '"node_a3", "node_x9"')
    message = error_of(check_grid, path)
    line = line_no(real(path), '"branch_4"')
    assert message.startswith(f"{path}, line {line} (branch[3]): branch 'branch_4' has to bus "
                              "'node_x9', which is not in the bus table; expected the id of a bus")


def test_grid_trafo_from_unknown_bus(tmp_path):
    path = grid_variant(tmp_path, '["transformer", "tr_pri"', '["transformer", "tr_prim"')
    message = error_of(check_grid, path)
    assert "(trafo[0]): trafo 'transformer' has from bus 'tr_prim', which is not in the " \
           "bus table" in message


def test_grid_two_ref_buses(tmp_path):
    path = grid_variant(tmp_path, '["node_a1", "PQ", 0.4]', '["node_a1", "REF", 0.4]')
    message = error_of(check_grid, path)
    assert message.startswith(f"{path}, line {line_no(real(path), '\"bus\": [')} (bus): 2 buses "
                              "have type 'REF' ('tr_pri', 'node_a1'); expected exactly one REF")


def test_grid_ref_bus_not_first(tmp_path):
    text = real(GRID)
    ref, sec = '["tr_pri", "REF", 20.0]', '["tr_sec", "PQ", 0.4]'
    path = write(tmp_path, "grid.json", text.replace(ref, "@").replace(sec, ref).replace("@", sec))
    message = error_of(check_grid, path)
    assert f"line {line_no(real(path), ref)} (bus[1]): the REF bus 'tr_pri' is bus[1]" in message
    assert "mosaik-pypower asserts this" in message


def test_grid_duplicate_bus(tmp_path):
    path = grid_variant(tmp_path, '["node_a2", "PQ", 0.4]', '["node_a1", "PQ", 0.4]')
    message = error_of(check_grid, path)
    assert "(bus[3]): id 'node_a1' is used twice (also by bus[2])" in message


def test_grid_unknown_branch_type(tmp_path):
    path = grid_variant(tmp_path, '"node_a9", "NAYY_4x50_SE"', '"node_a9", "NAYY_4x70"')
    message = error_of(check_grid, path)
    assert f"line {line_no(real(path), 'NAYY_4x70')} (branch[8]): branch 'branch_9' has type " \
           "'NAYY_4x70', which is neither in the file's branch_types nor in mosaik-pypower's " \
           "resource_db; expected one of 'NA2XS2Y_120'" in message


def test_grid_types_resolve_like_mosaik_pypower(tmp_path):
    """resource_db's types count as known, like in mosaik-pypower's JSON.branches."""
    text = real(GRID).replace('"tr_sec", "TRAFO_250_20_04"', '"tr_sec", "TRAFO_250"')
    text = text.replace('"node_a8", "node_a9", "NAYY_4x50_SE"', '"node_a8", "node_a9", "NAYY_50"')
    path = write(tmp_path, "grid.json", text)
    assert "TRAFO_250\"" in text and "NAYY_50\"" in text
    assert check_grid(path) == PQ_BUSES
    pp_model.load_case(str(path), 0, {})


def test_grid_unknown_trafo_type(tmp_path):
    path = grid_variant(tmp_path, '"tr_sec", "TRAFO_250_20_04"', '"tr_sec", "TRAFO_999"')
    message = error_of(check_grid, path)
    assert "(trafo[0]): trafo 'transformer' has type 'TRAFO_999', which is neither in the " \
           "file's trafo_types nor in mosaik-pypower's resource_db" in message


@pytest.mark.parametrize("length, problem", [
    ("0", "length is 0 km, which is not physically sensible; expected a finite number > 0"),
    ("-0.03", "length is -0.03 km, which is not physically sensible"),
    ('"0.03"', "length is '0.03', not a number; expected a number in km"),
    ("NaN", "length is NaN km, which is not physically sensible"),
    ("null", "length is null, not a number"),
])
def test_grid_bad_length(tmp_path, length, problem):
    path = grid_variant(tmp_path, '"node_a3", "NAYY_4x150_SE", 0.03, 1]',
                        f'"node_a3", "NAYY_4x150_SE", {length}, 1]')
    message = error_of(check_grid, path)
    assert f"line {line_no(real(path), '\"branch_3\"')} (branch[2]): {problem}" in message


def test_grid_bad_base_kv(tmp_path):
    path = grid_variant(tmp_path, '["node_c3", "PQ", 0.4]', '["node_c3", "PQ", 0]')
    message = error_of(check_grid, path)
    line = line_no(real(path), '["node_c3"')
    assert f"line {line} (bus[23]): base_kV is 0 kV, which is not physically sensible; " \
           "expected a " \
           "finite number > 0 and ≤ 1500 kV" in message


def test_grid_ref_voltage_without_base_mva(tmp_path):
    path = grid_variant(tmp_path, '["tr_pri", "REF", 20.0]', '["tr_pri", "REF", 10.0]')
    message = error_of(check_grid, path)
    assert "(bus[0]): the REF bus is at 10.0 kV, for which mosaik-pypower has no default " \
           "base MVA" in message


def test_grid_bad_bus_type(tmp_path):
    path = grid_variant(tmp_path, '["node_a2", "PQ", 0.4]', '["node_a2", "PV", 0.4]')
    assert "bus 'node_a2' has type 'PV'" in error_of(check_grid, path)


def test_grid_branch_across_voltages(tmp_path):
    path = grid_variant(tmp_path, '["branch_1", "tr_sec"', '["branch_1", "tr_pri"')
    message = error_of(check_grid, path)
    assert "(branch[0]): branch 'branch_1' joins 'tr_pri' (20 kV) and 'node_a1' (0.4 kV)" \
        in message


def test_grid_self_loop(tmp_path):
    path = grid_variant(tmp_path, '"node_a1", "node_a2"', '"node_a2", "node_a2"')
    assert "branch 'branch_2' connects bus 'node_a2' to itself" in error_of(check_grid, path)


def test_grid_disconnected(tmp_path):
    path = grid_variant(tmp_path, '"node_b1", "NAYY_4x150_SE", 0.12, 1]',
                        '"node_b1", "NAYY_4x150_SE", 0.12, 0]')
    message = error_of(check_grid, path)
    line = line_no(real(path), '["node_b1", "PQ"')
    assert f"line {line} (bus[11]): 10 of 39 buses are not " \
           "connected to the REF bus 'tr_pri': 'node_b1', 'node_b2'" in message
    assert "through online trafos and branches" in message


def test_grid_deleted_branch_row(tmp_path):
    text = real(GRID)
    row = next(line for line in lines_of(text) if '"branch_37"' in line)
    path = write(tmp_path, "grid.json", text.replace(",\n" + row, ""))
    assert "1 of 39 buses are not connected to the REF bus 'tr_pri': 'node_d10'" in \
        error_of(check_grid, path)


def test_grid_bad_type_table(tmp_path):
    path = grid_case_variant(tmp_path, lambda case: case["trafo_types"]["TRAFO_250_20_04"].pop())
    message = error_of(check_grid, path)
    assert 'trafo_types["TRAFO_250_20_04"]' in message
    assert "expected a list [S_r, I_max_p" in message
    path = grid_case_variant(
        tmp_path, lambda case: case["branch_types"]["NAYY_4x50_SE"].__setitem__(3, -1))
    message = error_of(check_grid, path)
    assert 'branch_types["NAYY_4x50_SE"]): I_max is -1 A' in message


def test_grid_tap_not_in_table(tmp_path):
    path = grid_variant(tmp_path, '"TRAFO_250_20_04", 1, 0]', '"TRAFO_250_20_04", 1, 3]')
    message = error_of(check_grid, path)
    assert "trafo 'transformer' has tap 3, which type 'TRAFO_250_20_04' does not have; " \
           "expected one of its tap positions [-2, -1, 0, 1, 2]" in message


def test_grid_online_flag(tmp_path):
    path = grid_variant(tmp_path, '"node_a2", "NAYY_4x150_SE", 0.035, 1]',
                        '"node_a2", "NAYY_4x150_SE", 0.035, "yes"]')
    assert "online is 'yes'; expected 1 (in service) or 0" in error_of(check_grid, path)


OLD_FORMAT = {  # mosaik-pypower's old format: base_mva, parameters inline
    "base_mva": 1,
    "bus": [["ref", "REF", 20.0], ["lv", "PQ", 0.4], ["n1", "PQ", 0.4]],
    "trafo": [["t1", "ref", "lv", 0.25, 6.0, 3.6, 7.2, 360.8]],
    "branch": [["b1", "lv", "n1", 0.1, 0.208, 0.08, 261.0, 270.0]],
}


def test_grid_old_format(tmp_path):
    path = write(tmp_path, "grid.json", json.dumps(OLD_FORMAT))
    assert check_grid(path) == ["lv", "n1"]
    pp_model.load_case(str(path), 0, {})
    broken = {**OLD_FORMAT, "branch": [["b1", "lv", "n1", 0.1, 0.208, 0.08, 261.0]]}
    message = error_of(check_grid, write(tmp_path, "grid.json", json.dumps(broken)))
    assert "(branch[0]): the row is" in message
    assert "expected a list of 8 fields [id, from, to, length_km, R', X', C', I_max]" in message


# --- households.data --------------------------------------------------------------------------


def houses_variant(tmp_path, edit) -> Path:
    """households.data with *edit* applied to its list of lines."""
    lines = lines_of(real(HOUSES))
    edit(lines)
    return write(tmp_path, "households.data", "\n".join(lines))


def check_houses(path, steps=STEPS, **kwargs):
    return check_households(path, GRID_NAME, PQ_BUSES, steps, **kwargs)


PROFILES_AT = lines_of(real(HOUSES)).index("# profiles") + 1  # its line number


def test_households_short_file(tmp_path):
    path = houses_variant(tmp_path, lambda lines: lines.__delitem__(slice(PROFILES_AT + 1000, -1)))
    message = error_of(check_houses, path)
    assert message.startswith(f"{path}, line {PROFILES_AT + 1000} (# profiles): the file has "
                              "1000 profile rows (2025-06-21 00:00 to 2025-06-21 16:39), too few "
                              "for 1440 one-minute steps from 2025-06-21 00:00; expected 1440 "
                              "rows at 1-min resolution (up to 2025-06-21 23:59)")


def test_households_house_on_unknown_node(tmp_path):
    path = houses_variant(tmp_path, lambda lines: lines.__setitem__(
        3, lines[3].replace('"node_b5"', '"node_x9"')))
    message = error_of(check_houses, path)
    assert message.startswith(f"{path}, line 4 (id_list['lab_grid'][12]): house 12 is on node "
                              "'node_x9', which is not a PQ bus of the grid; expected one of "
                              "the grid's PQ buses: 'node_a1'")


def test_households_house_on_ref_bus(tmp_path):
    path = houses_variant(tmp_path, lambda lines: lines.__setitem__(
        3, lines[3].replace('"node_a2"', '"tr_pri"')))
    assert "house 0 is on node 'tr_pri', which is not a PQ bus" in error_of(check_houses, path)


def test_households_wrong_grid_name(tmp_path):
    path = houses_variant(tmp_path, lambda lines: lines.__setitem__(
        3, lines[3].replace('"lab_grid"', '"other_grid"')))
    message = error_of(check_houses, path)
    assert "line 4: the id_list has no entry for grid 'lab_grid' (found 'other_grid')" in message


@pytest.mark.parametrize("edit, problem", [
    (lambda lines: lines.pop(0), "line 1: the line is '{\"num_profiles\": 10, "),
    (lambda lines: lines.pop(4), ": there is no '# attrs' line after '# id_list'"),
    (lambda lines: lines.pop(PROFILES_AT - 1), ": there is no '# profiles' line after '# attrs'"),
    (lambda lines: lines.__delitem__(slice(1, None)), ": the file ends after '# meta'"),
])
def test_households_sections(tmp_path, edit, problem):
    path = houses_variant(tmp_path, edit)
    message = error_of(check_houses, path)
    assert message.startswith(f"{path}") and problem in message


def test_households_missing_id_list_header(tmp_path):
    path = houses_variant(tmp_path, lambda lines: lines.pop(2))
    message = error_of(check_houses, path)
    assert message.startswith(f"{path}, line 3: the line is '{{\"lab_grid\"")
    assert "expected '# id_list' (the line after the meta JSON)" in message


@pytest.mark.parametrize("old, new, problem", [
    ('"unit": "W"', '"unit": "kW"', "unit is 'kW'; expected 'W' (mosaik-pypower takes P in W)"),
    ('"resolution": 1, ', "", "the meta JSON has no 'resolution'"),
    ('"resolution": 1', '"resolution": 0', "resolution is 0; expected an integer from 1"),
    ('"start_date": "2025-06-21 00:00"', '"start_date": "21.06.2025"',
     "start_date is '21.06.2025'"),
    ('"unit": "W"}', '"unit": "W"', "the meta line '{\"num_profiles\": 10"),
])
def test_households_meta(tmp_path, old, new, problem):
    path = houses_variant(tmp_path, lambda lines: lines.__setitem__(1, lines[1].replace(old, new)))
    message = error_of(check_houses, path)
    assert message.startswith(f"{path}, line 2: ") and problem in message


@pytest.mark.parametrize("row, problem", [
    ("num_residents,2,4,1,3,2,5,2,3,1", "num_residents has 9 values, but num_profiles is 10"),
    ("num_residents,2,4,1,3,2.5,5,2,3,1,4", "num_residents value 5 is '2.5'"),
    ("num_people,2,4,1,3,2,5,2,3,1,4", "unknown attribute row 'num_people,2,4"),
])
def test_households_attrs(tmp_path, row, problem):
    path = houses_variant(tmp_path, lambda lines: lines.__setitem__(6, row))
    message = error_of(check_houses, path)
    assert message.startswith(f"{path}, line 7: {problem}")


def set_profile(lines, minute, values=None, date=None):
    n = PROFILES_AT + minute  # index of the row for *minute*
    stamp, *old = lines[n].split(",")
    lines[n] = ",".join([date or stamp, *(old if values is None else values)])


@pytest.mark.parametrize("edit, problem", [
    (lambda ls: set_profile(ls, 7, ["nan"] + ["1.0"] * 9),
     "the value of profile 1 is 'nan', not a number"),
    (lambda ls: set_profile(ls, 7, ["1.0", ""] + ["1.0"] * 8), "the value of profile 2 is empty"),
    (lambda ls: set_profile(ls, 7, ["1.0"] * 9 + ["abc"]), "the value of profile 10 is 'abc'"),
    (lambda ls: set_profile(ls, 7, ["1.0"] * 9 + ["-5.0"]),
     "the value of profile 10 is '-5.0' W, not a finite power ≥ 0 W"),
    (lambda ls: set_profile(ls, 7, ["1.0"] * 9),
     "the row has 9 values, but num_profiles is 10"),
    (lambda ls: set_profile(ls, 7, date="2025-06-21 00:08"),
     "the date is 2025-06-21 00:08, but the row before is at 2025-06-21 00:06; expected "
     "2025-06-21 00:07 (consecutive rows every 1 min)"),
    (lambda ls: set_profile(ls, 7, date="2025-06-21 0:07"),
     "the date '2025-06-21 0:07' is not a date 'YYYY-MM-DD HH:MM'"),
    (lambda ls: ls.__setitem__(PROFILES_AT + 7, ""),
     "the date '' is not a date 'YYYY-MM-DD HH:MM' (the line is empty)"),
])
def test_households_profile_rows(tmp_path, edit, problem):
    path = houses_variant(tmp_path, edit)
    message = error_of(check_houses, path)
    assert message.startswith(f"{path}, line {PROFILES_AT + 8}: {problem}")


def test_households_first_row_is_start_date(tmp_path):
    path = houses_variant(tmp_path, lambda lines: lines.pop(PROFILES_AT))
    assert "the first profile row is at 2025-06-21 00:01, not at start_date 2025-06-21 00:00" \
        in error_of(check_houses, path)


def test_households_start(tmp_path):
    assert check_houses(HOUSES, 60, start="2025-06-21 23:00:00") is None
    message = error_of(check_houses, HOUSES, 62, start="2025-06-21 23:00:00")
    assert "1441 profile rows (2025-06-21 00:00 to 2025-06-22 00:00), too few for 62 " \
           "one-minute steps from 2025-06-21 23:00; expected 1442 rows" in message
    message = error_of(check_houses, HOUSES, 10, start="2025-06-20 23:00")
    assert "line 2: the profiles start at 2025-06-21 00:00, after the simulation start" in message


# --- pv.csv -------------------------------------------------------------------------------------


def pv_variant(tmp_path, line: int, new: str | None) -> Path:
    """pv.csv with (1-based) *line* replaced by *new* (or deleted if None)."""
    lines = lines_of(real(PV))
    if new is None:
        del lines[line - 1]
    else:
        lines[line - 1] = new
    return write(tmp_path, "pv.csv", "\n".join(lines))


@pytest.mark.parametrize("row, problem", [
    ("2025-06-21 00:07:00,", "P is '' (empty); expected a finite number"),
    ("2025-06-21 00:07:00,nan", "P is 'nan', not a number"),
    ("2025-06-21 00:07:00,NaN", "P is 'NaN', not a number"),
    ("2025-06-21 00:07:00,abc", "P is 'abc', not a number"),
    ("2025-06-21 00:07:00", "the row '2025-06-21 00:07:00' has no P value"),
    ("2025-06-21 00:07:00,1e999", "P is 1e999 W, not a finite power"),
    ("2025-06-21 00:07:00,120.0", "P is 120.0 W, positive (a load, not feed-in)"),
    ("2025-06-21 00:07:00,-0.5,1", "P is '-0.5,1', not a number"),
    ("2025/06/21 00:07:00,0.0",
     "the date '2025/06/21 00:07:00' is not a date 'YYYY-MM-DD HH:MM:SS'"),
    ("2025-06-21 00:07,0.0", "the date '2025-06-21 00:07' is not a date"),
    ("2025-06-21 00:06:00,0.0", "the date 2025-06-21 00:06:00 is not after the previous row's "
     "2025-06-21 00:06:00; expected 2025-06-21 00:07:00 (one row per minute, strictly "
     "increasing)"),
    ("2025-06-21 00:08:00,0.0", "the date 2025-06-21 00:08:00 is more than a minute after"),
    ("", "the line is empty"),
])
def test_pv_bad_row(tmp_path, row, problem):
    path = pv_variant(tmp_path, 10, row)
    message = error_of(check_pv, path, STEPS)
    assert message.startswith(f"{path}, line 10: {problem}")


def test_pv_wrong_header(tmp_path):
    path = pv_variant(tmp_path, 2, "Time,P_W")
    message = error_of(check_pv, path, STEPS)
    assert message == f"{path}, line 2: the header is 'Time,P_W'; expected the header " \
                      "'Date,P' (or 'Date,P_0,P_1,...') on line 2."


def test_pv_missing_model_name(tmp_path):
    path = pv_variant(tmp_path, 1, None)
    message = error_of(check_pv, path, STEPS)
    assert message.startswith(f"{path}, line 1: the first line is 'Date,P' (mosaik-csv takes "
                              "a line with commas as the header and names the model 'Data'); "
                              "expected the model name 'PV' alone on line 1")
    assert "the first line is 'Wind'" in error_of(check_pv, pv_variant(tmp_path, 1, "Wind"), STEPS)
    assert check_pv(pv_variant(tmp_path, 1, "Wind"), STEPS, model="Wind") is None


def test_pv_short_file(tmp_path):
    lines = lines_of(real(PV))
    path = write(tmp_path, "pv.csv", "\n".join(lines[:2 + 720]))
    message = error_of(check_pv, path, STEPS)
    assert message == f"{path}, line 722: the file has 720 data rows (2025-06-21 00:00:00 to " \
                      "2025-06-21 11:59:00), too few for 1440 one-minute steps from " \
                      "2025-06-21 00:00:00; expected 1440 rows (up to 2025-06-21 23:59:00)."


def test_pv_start_before_series(tmp_path):
    message = error_of(check_pv, PV, 10, start="2025-06-20 23:59:00")
    assert "line 3: the series starts at 2025-06-21 00:00:00, after the simulation start " \
           "2025-06-20 23:59:00 (mosaik-csv would then use the last row)" in message
    assert check_pv(PV, 60, start="2025-06-21 23:00:30") is None


def test_pv_blank_lines(tmp_path):
    path = write(tmp_path, "pv.csv", real(PV) + "\n\n")
    assert check_pv(path, STEPS) is None  # pandas skips trailing blank lines
    assert "line 2: the file has no data rows after the header" in error_of(
        check_pv, write(tmp_path, "pv.csv", "PV\nDate,P\n"), STEPS)


def test_windows_line_ends_pass(tmp_path):
    """CRLF files (saved on a lab PC) read fine upstream, so they pass."""
    pv = tmp_path / "pv.csv"
    pv.write_bytes(PV.read_bytes().replace(b"\n", b"\r\n"))
    houses = tmp_path / "households.data"
    houses.write_bytes(HOUSES.read_bytes().replace(b"\n", b"\r\n"))
    assert check_pv(pv, STEPS, start=START) is None
    assert check_houses(houses, start=START) is None
    sim = CSV()
    sim.init("PV-0", 1.0, sim_start=START, datafile=str(pv))
    assert sim.attrs == ["P"] and len(sim.data) == STEPS + 1


def test_pv_not_utf8(tmp_path):
    path = tmp_path / "pv.csv"
    path.write_bytes(PV.read_bytes().replace(b"00:07:00,0.0", b"00:07:00,\xff0.0"))
    assert f"{path}, line 10: is not UTF-8 text (byte" in error_of(check_pv, path, STEPS)


# --- Property: any mutation either passes (and the loaders take it) or is an InputError -----

# The household and PV properties use the first two hours of the real files (121
# rows, 120 steps): the structure is the same, mutations land on the header
# lines more often, and householdsim's row-by-row reader stays fast.
SLICE_STEPS = 120
HOUSES_SLICE = "\n".join(lines_of(real(HOUSES))[:PROFILES_AT + SLICE_STEPS + 1]) + "\n"
PV_SLICE = "\n".join(lines_of(real(PV))[:2 + SLICE_STEPS + 1]) + "\n"

# Replacement text: numbers in every spelling (plausible ones keep the file
# valid, so the loaders get exercised too), and text that breaks things.
NUMBER_TEXT = st.one_of(
    st.integers(-5000, 5000).map(str),
    st.floats(-1e4, 1e4).map(lambda x: f"{x:.1f}"),
    st.floats().map(repr),
    st.sampled_from(["-0.5", ".5", "5.", "-5.", "1e3", "-1E+2", "-0", "0.0", "+1", "1_0",
                     "1e999", "99999999999999999999", " 1", "1 ", "0x10", "١"]),
)
JUNK_TEXT = st.sampled_from([
    "", " ", "nan", "NaN", "inf", "-inf", "abc", "1,2", ",", '"', "#", "# meta", "# id_list",
    "# attrs", "# profiles", "PV", "Date,P", "Date, P", "2025-06-21 00:00", "2025-06-21 00:00:00",
    "2025-06-21 00:01:00", "2025-13-01 00:00:00", "0000-01-01 00:00:00", "node_x9", "tr_pri",
    "node_a1", "REF", "null", "[]", "{}", "true", '{"lab_grid": []}', "\r", "\t", "\ufeff",
]) | st.text(max_size=12)
JUNK = NUMBER_TEXT | JUNK_TEXT
JSON_JUNK = st.one_of(
    st.floats(0.001, 1000), st.integers(-2, 3),
    st.sampled_from([
        None, True, False, 0, 1, -1, 0.5, 20, 20.0, 0.4, 1e308, float("nan"), float("inf"), "",
        "REF", "PQ", "PV", "tr_pri", "tr_sec", "node_a1", "node_b3", "node_x9", "branch_1",
        "transformer", "NAYY_4x50_SE", "NAYY_50", "TRAFO_250", "TRAFO_400", "TRAFO_250_20_04",
        [], {}, [1, 2], {"0": 1.0}, {"-1": 0.98, "0": 1.0}, ["x", "PQ", 0.4],
        [0.1, 0.08, 0, 100]]),
    st.integers(), st.floats(), st.text(max_size=8))

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def mutate_text(data, text: str, plausible=NUMBER_TEXT) -> str:
    """1-3 random edits of *text*: lines, comma fields, raw characters, truncation.

    *plausible*: numbers that fit the file's value columns, so that a good
    share of the mutants stays valid and reaches the upstream loaders.
    """
    lines = lines_of(text)
    for _ in range(data.draw(st.integers(1, 3))):
        last = len(lines) - 1
        i = data.draw(st.integers(0, min(12, last)) | st.integers(0, last)
                      | st.integers(max(0, last - 3), last))
        op = data.draw(st.sampled_from(["value"] * 5 + ["delete", "duplicate", "replace", "swap",
                                                      "field", "field", "truncate", "insert"]))
        if op == "value":  # a number in a data row's value column: often still valid
            i = data.draw(st.integers(0, last))
            fields = lines[i].split(",")
            if len(fields) > 1:
                j = data.draw(st.integers(1, len(fields) - 1))
                fields[j] = data.draw(plausible | NUMBER_TEXT)
                lines[i] = ",".join(fields)
        elif op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "replace":
            lines[i] = data.draw(JUNK)
        elif op == "swap":
            j = data.draw(st.integers(0, last))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "field":
            fields = lines[i].split(",")
            j = data.draw(st.integers(0, len(fields) - 1))
            how = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
            if how == "replace":
                fields[j] = data.draw(JUNK)
            elif how == "delete" and len(fields) > 1:
                del fields[j]
            else:
                fields.insert(j, fields[j])
            lines[i] = ",".join(fields)
        else:
            joined = "\n".join(lines)
            at = data.draw(st.integers(0, len(joined)))
            junk = "" if op == "truncate" else data.draw(JUNK)
            lines = lines_of(joined[:at] + junk + ("" if op == "truncate" else joined[at:]))
    return "\n".join(lines)


def mutate_json(data, value):
    """*value* (parsed JSON) with one random element replaced, deleted or duplicated."""
    if isinstance(value, (list, dict)) and value and data.draw(st.integers(0, 3)):
        keys = list(range(len(value))) if isinstance(value, list) else list(value)
        key = data.draw(st.sampled_from(keys))
        value = value.copy()
        value[key] = mutate_json(data, value[key])
        return value
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if is_number and data.draw(st.booleans()):
        return data.draw(st.floats(0.001, 100) | st.integers(0, 2))  # often still valid
    if isinstance(value, str) and data.draw(st.booleans()):
        return data.draw(st.sampled_from(PQ_BUSES))  # rewire, rename or retype
    how = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
    if how == "replace" or not isinstance(value, (list, dict)) or not value:
        return data.draw(JSON_JUNK)
    keys = list(range(len(value))) if isinstance(value, list) else list(value)
    key = data.draw(st.sampled_from(keys))
    value = value.copy()
    if how == "delete":
        del value[key]
    elif isinstance(value, list):
        value.insert(key, value[key])
    else:
        value[key + "_copy"] = value[key]
    return value


def check_or_input_error(check, *args, **kwargs) -> bool:
    """True if the check passes, False on InputError; anything else fails the test."""
    try:
        check(*args, **kwargs)
    except InputError as e:
        assert str(e) and "\n" not in str(e)
        event("InputError")
        return False
    event("passed")
    return True


def finite_numbers(array) -> bool:
    return all(math.isfinite(float(x)) for x in array.flat)


@SETTINGS
@given(st.data())
def test_grid_mutations(data):
    base = data.draw(st.sampled_from([real(GRID), real(GRID), json.dumps(OLD_FORMAT, indent=1)]))
    if data.draw(st.booleans()):
        text = mutate_text(data, base)
    else:
        text = json.dumps(mutate_json(data, json.loads(base)), indent=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "grid.json", text)
        if check_or_input_error(check_grid, path):
            ppc, entities = pp_model.load_case(str(path), 0, {})
            assert math.isfinite(ppc["baseMVA"]) and ppc["baseMVA"] > 0
            for table in ("bus", "gen", "branch"):
                assert finite_numbers(ppc[table])
            assert sum(e["etype"] == "RefBus" for e in entities.values()) == 1


@SETTINGS
@given(st.data())
def test_households_mutations(data):
    text = mutate_text(data, HOUSES_SLICE, st.floats(0, 5000).map(lambda x: f"{x:.1f}"))
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "households.data", text)
        if check_or_input_error(check_households, path, GRID_NAME, PQ_BUSES, SLICE_STEPS,
                                start=START):
            with open(path) as f:
                model = HouseModel(f, GRID_NAME)
                assert set(model.node_ids) <= set(PQ_BUSES)
                offset = model.get_delta(START)
                for minute in range(SLICE_STEPS):  # what the simulator reads, step by step
                    values = model.get(minute + offset)
                    assert all(math.isfinite(v) and v >= 0 for v in values)


@SETTINGS
@given(st.data())
def test_pv_mutations(data):
    text = mutate_text(data, PV_SLICE, st.floats(-8000, 0).map(lambda x: f"{x:.3g}"))
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "pv.csv", text)
        if check_or_input_error(check_pv, path, SLICE_STEPS, start=START):
            sim = CSV()
            sim.init("PV-0", 1.0, sim_start=START, datafile=str(path))
            assert sim.model_name == "PV" and sim.attrs == ["P"]
            first = sim.next_index
            assert first >= 0
            window = sim.data["P"].iloc[first:first + SLICE_STEPS]
            assert len(window) == SLICE_STEPS and window.dtype.kind in "if"
            assert finite_numbers(window.to_numpy())
            assert (sim.data.index[first + 1:first + SLICE_STEPS]
                    - sim.data.index[first:first + SLICE_STEPS - 1]).total_seconds().tolist() \
                == [60.0] * (SLICE_STEPS - 1)
