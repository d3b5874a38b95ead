"""Deterministic generator of the lab's input data (grid, household loads, PV).

The lab must not depend on third-party demo data whose origin nobody can
explain, so every input file is generated here from published parameters and
formulas (see ``data/README.md`` for the provenance of each number).

Regeneration is byte-identical: fixed seed (numpy PCG64 via ``default_rng``),
plain Python float arithmetic for everything derived from the random draws,
fixed decimal formatting, fixed JSON layout and ``\\n`` line endings.

    python -m smartgrid_lab.datagen [--out DIR]    # write the three files
    python -m smartgrid_lab.datagen --check        # exit 1 if data/ is stale
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

# --- Public API used by scenarios and tests ---------------------------------

START = "2025-06-21 00:00:00"  # a Saturday at midsummer, local time (CEST)
END_SECONDS = 86400  # one simulated day
GRID_NAME = "lab_grid"  # key of the house list in households.data
GRID_FILE = "grid.json"
HOUSEHOLDS_FILE = "households.data"
PV_FILE = "pv.csv"
FILES = (GRID_FILE, HOUSEHOLDS_FILE, PV_FILE)
DATA_DIR = Path(__file__).resolve().parents[2] / "data"

SEED = 20250621  # the only source of randomness (household variation)
MINUTES = END_SECONDS // 60 + 1  # one extra row so the simulators never run dry
UTC_OFFSET_HOURS = 2  # timestamps are CEST, the clock the H0 profile is defined in

# --- Grid --------------------------------------------------------------------

# Cable types, mosaik-pypower "Line" order: R' [Ohm/km], X' [Ohm/km],
# C' [nF/km], I_max [A]. Standard-table values for NAYY 0.6/1 kV cables
# (Heuck et al., Elektrische Energieversorgung, 2013, p. 744, as tabulated
# in pandapower's standard types).
CABLE_TYPES = {
    "NAYY_4x150_SE": [0.208, 0.080, 261.0, 270.0],
    "NAYY_4x50_SE": [0.642, 0.083, 210.0, 142.0],
}

# 250 kVA 20/0.4 kV distribution transformer, Trafo Union datasheet values as
# tabulated in pandapower ("0.25 MVA 20/0.4 kV"): u_k = 6 %, u_kr = 1.44 %
# (P_k = 3.6 kW), off-load taps +-2 x 2.5 %.
TRAFO_TYPE = "TRAFO_250_20_04"
TRAFO_S_R_MVA = 0.25
TRAFO_U_K = 0.06
TRAFO_U_KR = 0.0144


def _trafo_params() -> list:
    """Transformer row for mosaik-pypower's ``trafo_types``.

    mosaik-pypower converts a transformer's R and X to per unit with the
    base impedance of its *primary* (from) bus, so they must be referred to
    the 20 kV side. (The built-in TRAFO_250 of resource_db holds 0.4 kV-side
    ohms, which on a 20 kV base would make the transformer nearly ideal.)
    """
    u_p, u_s, s_r = 20e3, 0.4e3, TRAFO_S_R_MVA * 1e6
    z_k = TRAFO_U_K * u_p**2 / s_r  # 96 Ohm
    r_k = TRAFO_U_KR * u_p**2 / s_r  # 23.04 Ohm
    x_k = math.sqrt(z_k**2 - r_k**2)
    i_p = s_r / (math.sqrt(3) * u_p)
    i_s = s_r / (math.sqrt(3) * u_s)
    p_k_kw = TRAFO_U_KR * s_r / 1e3  # load losses at rated power
    taps = {"-2": 0.95, "-1": 0.975, "0": 1.0, "1": 1.025, "2": 1.05}
    return [TRAFO_S_R_MVA, round(i_p, 3), round(i_s, 2), round(p_k_kw, 3),
            round(r_k, 4), round(x_k, 4), taps]


# Four radial feeders, 37 LV nodes. (from, to, cable, length [m]).
# Trunks are NAYY 4x150, short side streets NAYY 4x50; the first node of
# each feeder is a cable distribution cabinet near the substation.
_A, _B = "NAYY_4x150_SE", "NAYY_4x50_SE"
FEEDERS = {
    "a": [("tr_sec", "a1", _A, 80), ("a1", "a2", _A, 35), ("a2", "a3", _A, 30),
          ("a3", "a4", _A, 40), ("a4", "a5", _A, 35), ("a5", "a6", _A, 30),
          ("a3", "a7", _B, 45), ("a7", "a8", _B, 30), ("a8", "a9", _B, 25)],
    "b": [("tr_sec", "b1", _A, 120), ("b1", "b2", _A, 40), ("b2", "b3", _A, 35),
          ("b3", "b4", _A, 40), ("b4", "b5", _A, 30), ("b5", "b6", _A, 35),
          ("b6", "b7", _A, 40), ("b7", "b8", _A, 30), ("b4", "b9", _B, 50),
          ("b9", "b10", _B, 35)],
    "c": [("tr_sec", "c1", _A, 50), ("c1", "c2", _A, 30), ("c2", "c3", _A, 30),
          ("c3", "c4", _A, 35), ("c4", "c5", _A, 30), ("c2", "c6", _B, 40),
          ("c6", "c7", _B, 30), ("c7", "c8", _B, 25)],
    "d": [("tr_sec", "d1", _A, 130), ("d1", "d2", _A, 45), ("d2", "d3", _A, 40),
          ("d3", "d4", _A, 45), ("d4", "d5", _A, 40), ("d5", "d6", _A, 45),
          ("d6", "d7", _A, 40), ("d4", "d8", _B, 40), ("d8", "d9", _B, 35),
          ("d9", "d10", _B, 30)],
}


def _bus(name: str) -> str:
    return name if name.startswith("tr_") else f"node_{name}"


def lv_nodes() -> list[str]:
    """The 37 LV node bus ids, feeder by feeder."""
    return [_bus(to) for feeder in FEEDERS.values() for _, to, _, _ in feeder]


def grid_case() -> dict:
    """The grid as a dict in mosaik-pypower's (new) JSON format."""
    buses = [["tr_pri", "REF", 20.0], ["tr_sec", "PQ", 0.4]]
    buses += [[node, "PQ", 0.4] for node in lv_nodes()]
    branches = []
    for frm, to, cable, length_m in (b for f in FEEDERS.values() for b in f):
        bid = f"branch_{len(branches) + 1}"
        branches.append([bid, _bus(frm), _bus(to), cable, length_m / 1000, 1])
    return {
        "bus": buses,
        "trafo": [["transformer", "tr_pri", "tr_sec", TRAFO_TYPE, 1, 0]],
        "branch": branches,
        "trafo_types": {TRAFO_TYPE: _trafo_params()},
        "branch_types": CABLE_TYPES,
    }


def grid_json(case: dict | None = None) -> str:
    """Serialise *case* (default :func:`grid_case`) with one table row per line (diffable)."""
    case = case or grid_case()
    parts = []
    for key in sorted(case):
        value = case[key]
        if isinstance(value, list):
            rows = ",\n".join(f"    {json.dumps(row)}" for row in value)
            parts.append(f'  "{key}": [\n{rows}\n  ]')
        else:
            rows = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v, sort_keys=True)}"
                              for k, v in sorted(value.items()))
            parts.append(f'  "{key}": {{\n{rows}\n  }}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


# --- Households ----------------------------------------------------------------

# BDEW/VDEW standard load profile H0, summer ("Sommer", 15 May - 14 Sep)
# Saturday, 96 quarter-hour mean powers in W for 1,000 kWh/a, starting at
# 00:00-00:15. 2025-06-21 is a Saturday, so this is the day type that applies.
H0_SUMMER_SATURDAY = (
    89.8, 84.9, 80.7, 76.6, 71.7, 66.6, 61.6, 57.4, 54.5, 52.6, 51.4, 50.8,
    50.3, 50.0, 49.9, 49.9, 50.1, 50.4, 50.7, 50.8, 50.8, 50.9, 51.6, 53.3,
    56.2, 60.4, 65.8, 72.4, 80.0, 88.5, 97.4, 106.5, 115.6, 124.4, 132.8, 140.7,
    147.8, 154.0, 158.9, 162.3, 164.1, 164.7, 165.0, 165.6, 167.1, 169.4, 172.4, 175.6,
    179.0, 181.9, 183.7, 183.9, 182.1, 178.7, 174.1, 169.0, 163.7, 158.9, 154.6, 151.5,
    149.6, 148.6, 148.0, 147.3, 146.2, 145.0, 144.1, 144.0, 144.9, 146.9, 150.0, 154.0,
    158.8, 164.0, 169.2, 174.0, 177.8, 180.5, 181.8, 181.4, 179.3, 175.7, 171.0, 165.6,
    160.1, 155.1, 151.1, 149.0, 148.9, 149.6, 149.4, 146.5, 139.8, 130.3, 119.5, 109.0,
)


def h0_dynamisation(day_of_year: int) -> float:
    """BDEW dynamisation factor F_t for H0 (4th-order polynomial, 4 decimals).

    It scales the static season tables so that the year's days sum to the
    annual consumption (summer days get less than the static table says).
    """
    t = day_of_year
    f = -3.92e-10 * t**4 + 3.2e-7 * t**3 - 7.02e-5 * t**2 + 2.1e-3 * t + 1.24
    return round(f, 4)


# Ten distinct house profiles (householdsim repeats them with i % 10).
RESIDENTS = (2, 4, 1, 3, 2, 5, 2, 3, 1, 4)
# Assumed annual consumption [kWh/a] of a single-family house by residents.
ANNUAL_KWH = {1: 2500, 2: 3200, 3: 3900, 4: 4400, 5: 5000}
# Appliance cycles added on top of the smooth H0 shape so houses look like
# houses, not like the average of thousands of them:
# (name, power [W], duration [min], window start [h], window end [h], p/day)
APPLIANCES = (
    ("kettle", 2000, 3, 6.5, 10.0, 0.9),
    ("hair dryer", 1600, 8, 7.0, 9.5, 0.5),
    ("washing machine heater", 2000, 15, 9.0, 15.0, 0.5),
    ("vacuum cleaner", 900, 20, 10.0, 13.0, 0.4),
    ("hob (lunch)", 1800, 25, 11.5, 13.0, 0.6),
    ("dishwasher heater", 1900, 20, 13.0, 21.0, 0.5),
    ("kettle", 2000, 3, 15.0, 17.5, 0.6),
    ("oven", 2200, 40, 17.0, 19.0, 0.3),
    ("hob (dinner)", 1800, 30, 17.5, 19.5, 0.9),
)
NOISE_AR = 0.95  # per-minute AR(1) coefficient of the smooth noise (~20 min)
NOISE_STD = 0.25  # relative standard deviation of the smooth noise
MAX_APPLIANCE_SHARE = 0.5  # appliance cycles may use at most half the day's energy

# Houses: every LV node except the four cabinets (x1) gets a house; the five
# feeder ends get a second one (38 houses). householdsim wants bus ids.
CABINETS = ("node_a1", "node_b1", "node_c1", "node_d1")
FEEDER_ENDS = ("node_a6", "node_b8", "node_c5", "node_d7", "node_d10")


def house_nodes() -> list[str]:
    """Bus id of every house, in householdsim's house order (38 houses)."""
    nodes = []
    for node in lv_nodes():
        if node not in CABINETS:
            nodes += [node] * (2 if node in FEEDER_ENDS else 1)
    return nodes


def _h0_minutes(shift: int) -> list[float]:
    """H0 shape at 1-min resolution (W per 1,000 kWh/a), shifted by *shift* min.

    Linear interpolation between quarter-hour midpoints, periodic over the
    day, sampled at minute midpoints: this keeps the day's energy exactly.
    """
    n = len(H0_SUMMER_SATURDAY)
    out = []
    for m in range(MINUTES):
        x = ((m + 0.5 + shift) / 15.0 - 0.5) % n
        i = int(x)
        frac = x - i
        out.append((1 - frac) * H0_SUMMER_SATURDAY[i]
                   + frac * H0_SUMMER_SATURDAY[(i + 1) % n])
    return out


def household_profiles() -> tuple[list[dict], list[list[float]]]:
    """Ten household profiles in W, each MINUTES long, plus their metadata."""
    rng = np.random.default_rng(SEED)
    day = datetime.strptime(START, "%Y-%m-%d %H:%M:%S").timetuple().tm_yday
    f_t = h0_dynamisation(day)
    h0_day_wh = sum(H0_SUMMER_SATURDAY) * 0.25 * f_t  # per 1,000 kWh/a
    infos, profiles = [], []
    for residents in RESIDENTS:
        # Fixed number of draws per house, so edits don't reshuffle others.
        annual = round(ANNUAL_KWH[residents] * float(rng.uniform(0.9, 1.1)), -1)
        shift = int(rng.integers(-30, 31))
        eps = rng.standard_normal(MINUTES).tolist()
        draws = rng.random((len(APPLIANCES), 2)).tolist()

        target_wh = h0_day_wh * annual / 1000
        spikes = [0.0] * MINUTES
        spike_wh = 0.0
        p_scale = 0.5 + 0.25 * residents  # more people, more appliance use
        for (_, power, dur, h_from, h_to, p), (u_use, u_when) in zip(APPLIANCES, draws):
            energy = power * dur / 60
            if u_use >= p * p_scale or spike_wh + energy > MAX_APPLIANCE_SHARE * target_wh:
                continue
            start = int(60 * (h_from + u_when * (h_to - h_from)))
            for m in range(start, start + dur):
                spikes[m] += power
            spike_wh += energy

        x, smooth = 0.0, []
        for shape, e in zip(_h0_minutes(shift), eps):
            x = NOISE_AR * x + math.sqrt(1 - NOISE_AR**2) * e
            smooth.append(shape * max(0.3, 1 + NOISE_STD * x))
        scale = (target_wh - spike_wh) * 60 / sum(smooth[:-1])
        profiles.append([s * scale + a for s, a in zip(smooth, spikes)])
        infos.append({"residents": residents, "annual_kwh": annual,
                      "day_kwh": target_wh / 1000})
    return infos, profiles


def households_data() -> str:
    """households.data in mosaik-householdsim's format."""
    infos, profiles = household_profiles()
    start = datetime.strptime(START, "%Y-%m-%d %H:%M:%S")
    meta = {"start_date": start.strftime("%Y-%m-%d %H:%M"), "resolution": 1,
            "unit": "W", "num_profiles": len(profiles)}
    lines = ["# meta", json.dumps(meta, sort_keys=True),
             "# id_list", json.dumps({GRID_NAME: house_nodes()}),
             "# attrs",
             "num_hh," + ",".join("1" for _ in infos),
             "num_residents," + ",".join(str(i["residents"]) for i in infos),
             "# profiles"]
    for m in range(MINUTES):
        stamp = (start + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M")
        lines.append(stamp + "," + ",".join(f"{p[m]:.1f}" for p in profiles))
    return "\n".join(lines) + "\n"


# --- PV ------------------------------------------------------------------------

LATITUDE = 53.14  # Oldenburg (Oldb), Germany [deg N]
LONGITUDE = 8.21  # [deg E]
PV_PEAK_W = 10_000  # 10 kWp rooftop system
PV_TILT = 30.0  # [deg]
PV_AZIMUTH = 180.0  # [deg from north, clockwise]: facing south
ALBEDO = 0.2
PV_DERATE = 0.80  # performance ratio: temperature, inverter, wiring, soiling


def pv_power(t_utc: datetime) -> float:
    """Clear-sky AC power [W, >= 0] of the PV system at *t_utc*.

    Solar position: NOAA "General Solar Position Calculations" (Spencer 1971
    Fourier series for declination, equation of time and sun-earth distance).
    Clear-sky GHI: Haurwitz (1945). Beam/diffuse split: Erbs et al. (1982).
    Plane of array: isotropic sky (Liu & Jordan 1963).
    """
    doy = t_utc.timetuple().tm_yday
    hour = t_utc.hour + t_utc.minute / 60 + t_utc.second / 3600
    g = 2 * math.pi / 365 * (doy - 1 + (hour - 12) / 24)  # fractional year
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                       - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g)
            - 0.006758 * math.cos(2 * g) + 0.000907 * math.sin(2 * g)
            - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))
    e0 = (1.000110 + 0.034221 * math.cos(g) + 0.001280 * math.sin(g)
          + 0.000719 * math.cos(2 * g) + 0.000077 * math.sin(2 * g))
    true_solar_min = hour * 60 + eqtime + 4 * LONGITUDE
    ha = math.radians(true_solar_min / 4 - 180)
    lat = math.radians(LATITUDE)
    # Sun direction as (east, north, up) unit vector.
    sun_e = -math.cos(decl) * math.sin(ha)
    sun_n = math.cos(lat) * math.sin(decl) - math.sin(lat) * math.cos(decl) * math.cos(ha)
    cos_z = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(ha)
    if cos_z <= 0:
        return 0.0

    ghi = 1098 * cos_z * math.exp(-0.057 / cos_z)  # Haurwitz
    kt = ghi / (1367 * e0 * cos_z)  # clearness index
    if kt <= 0.22:
        kd = 1 - 0.09 * kt
    elif kt <= 0.80:
        kd = 0.9511 - 0.1604 * kt + 4.388 * kt**2 - 16.638 * kt**3 + 12.336 * kt**4
    else:
        kd = 0.165
    dhi = kd * ghi
    dni = (ghi - dhi) / cos_z

    tilt, azi = math.radians(PV_TILT), math.radians(PV_AZIMUTH)
    cos_aoi = (sun_e * math.sin(tilt) * math.sin(azi)
               + sun_n * math.sin(tilt) * math.cos(azi) + cos_z * math.cos(tilt))
    poa = (dni * max(cos_aoi, 0.0) + dhi * (1 + math.cos(tilt)) / 2
           + ghi * ALBEDO * (1 - math.cos(tilt)) / 2)
    return PV_PEAK_W * poa / 1000 * PV_DERATE


def pv_csv() -> str:
    """pv.csv in mosaik-csv's format; P in W, negative = feed-in.

    Each row holds the power at the middle of the minute it starts (a good
    estimate of that minute's mean); timestamps are CEST.
    """
    start = datetime.strptime(START, "%Y-%m-%d %H:%M:%S")
    lines = ["PV", "Date,P"]
    for m in range(MINUTES):
        stamp = start + timedelta(minutes=m)
        mid_utc = stamp + timedelta(seconds=30) - timedelta(hours=UTC_OFFSET_HOURS)
        p = f"{pv_power(mid_utc):.1f}"
        lines.append(f"{stamp:%Y-%m-%d %H:%M:%S}," + ("0.0" if p == "0.0" else "-" + p))
    return "\n".join(lines) + "\n"


# --- Files and CLI ---------------------------------------------------------------


def render() -> dict[str, bytes]:
    """All data files as bytes, keyed by file name."""
    texts = {GRID_FILE: grid_json(), HOUSEHOLDS_FILE: households_data(), PV_FILE: pv_csv()}
    return {name: text.encode("utf-8") for name, text in texts.items()}


def write_all(out_dir: Path | str = DATA_DIR) -> list[Path]:
    """Write all data files into *out_dir* (created if needed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in render().items():
        path = out_dir / name
        path.write_bytes(content)  # bytes: no platform newline translation
        paths.append(path)
    return paths


def differing_files(out_dir: Path | str = DATA_DIR) -> list[str]:
    """Names of data files in *out_dir* that are missing or differ from a fresh run."""
    with tempfile.TemporaryDirectory() as tmp:
        write_all(tmp)
        return [name for name in FILES
                if not (Path(out_dir) / name).is_file()
                or (Path(out_dir) / name).read_bytes() != (Path(tmp) / name).read_bytes()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smartgrid_lab.datagen",
        description="Generate the lab's grid, household and PV data deterministically.")
    parser.add_argument("--out", type=Path, default=DATA_DIR,
                        help=f"output directory (default: {DATA_DIR})")
    parser.add_argument("--check", action="store_true",
                        help="don't write; exit 1 if the files in --out differ from a fresh run")
    args = parser.parse_args(argv)

    if args.check:
        stale = differing_files(args.out)
        if stale:
            print(f"data out of date in {args.out}: {', '.join(stale)} "
                  "(regenerate with: python -m smartgrid_lab.datagen)", file=sys.stderr)
            return 1
        print(f"data up to date in {args.out}: {', '.join(FILES)}")
        return 0

    for path in write_all(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
