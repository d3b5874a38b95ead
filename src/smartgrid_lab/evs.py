"""Electric vehicles that charge as their home energy manager says (exercise `price`).

Each entity is one car at one house, with a wallbox of ``max_kw``. Its day
is a list of charging sessions ``[arrive, depart, need_kwh]`` (seconds since
the start of the run): plugged in from ``arrive``, it must have taken
``need_kwh`` by ``depart``. Every minute it draws ``P_set`` (W, from the
energy manager), never more than the wallbox gives nor than the battery
still takes, and nothing while unplugged. ``P`` is what it really draws (W,
consumption positive, like the households).

What it tells its energy manager, as it stands at the end of the minute
just simulated: ``plugged`` (1/0), ``energy_needed_kwh`` still to charge in
this session, ``minutes_left`` until departure (the minutes a new
``P_set`` can still act on); and for the record ``energy_kwh`` charged in
this session and ``served_pct``, the lowest share of its need any session
of the day got by its departure (100 until a session falls short; rounded
to 0.01 %), which exercise `price` grades.

We wrote this model because PyPI has no maintained mosaik simulator of
electric vehicles (mosaik-heatpump, the closest, models heat pumps and
their buildings); a car that only has to take a given energy by a given
time needs no more than this.
"""

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "EV": {
            "public": True,
            "params": ["sessions", "max_kw"],
            "attrs": ["P", "P_set", "plugged", "energy_kwh", "energy_needed_kwh",
                      "minutes_left", "served_pct", "max_kw"],
        },
    },
}

J_PER_KWH = 3.6e6
UNPLUGGED = {"P": 0.0, "plugged": 0, "energy_kwh": 0.0, "energy_needed_kwh": 0.0,
             "minutes_left": 0}


class EVs(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.entities = {}  # eid -> {attribute: value}
        self.sessions = {}  # eid -> [(arrive s, depart s, need kWh), ...]

    def init(self, sid, time_resolution, step_size=60):
        self.time_resolution = time_resolution
        self.step_size = step_size
        return self.meta

    def create(self, num, model, sessions, max_kw=11.0):
        created = []
        for i in range(len(self.entities), len(self.entities) + num):
            eid = f"{model}_{i}"
            self.sessions[eid] = [(int(a), int(d), float(need)) for a, d, need in sessions]
            self.entities[eid] = {**UNPLUGGED, "P_set": 0.0, "served_pct": 100.0,
                                  "max_kw": float(max_kw)}
            created.append({"eid": eid, "type": model})
        return created

    def step(self, time, inputs, max_advance):
        start = int(time * self.time_resolution)
        end = start + self.step_size
        for eid, ev in self.entities.items():
            p_sets = [v for v in inputs.get(eid, {}).get("P_set", {}).values() if v is not None]
            ev["P_set"] = float(min(p_sets, default=0.0))
            session = next((s for s in self.sessions[eid] if s[0] <= start < s[1]), None)
            if session is None:
                ev.update(UNPLUGGED)
                continue
            arrive, depart, need = session
            charged = ev["energy_kwh"] if ev["plugged"] and start > arrive else 0.0
            most = min(ev["max_kw"] * 1000, (need - charged) * J_PER_KWH / self.step_size)
            ev["P"] = min(max(ev["P_set"], 0.0), max(most, 0.0))
            ev["energy_kwh"] = charged + ev["P"] * self.step_size / J_PER_KWH
            if need - ev["energy_kwh"] < 1e-9:  # full: no rounding crumbs left to charge
                ev["energy_kwh"] = need
            ev["energy_needed_kwh"] = max(need - ev["energy_kwh"], 0.0)
            ev["minutes_left"] = max(depart - end, 0) // 60
            ev["plugged"] = 1
            if end >= depart:  # the session's last minute: did it get its energy?
                ev["served_pct"] = min(ev["served_pct"], round(100 * ev["energy_kwh"] / need, 2))
        return time + int(self.step_size / self.time_resolution)

    def get_data(self, outputs):
        return {eid: {attr: self.entities[eid][attr] for attr in attrs}
                for eid, attrs in outputs.items()}
