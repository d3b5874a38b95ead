"""The lab's panel on the page, looked at in headless Chromium during and
after real in-process runs: the clock advances in a slowed run, the voltage
exercise's starter leaves the band and its nodes are ringed, the curves hold
one point per step, a failed run shows its error, an exercise's objectives
accumulate, finished runs replay with their manifest and grade; and what a
run prints when its output is not a terminal.

Screenshots go to pytest's tmp_path (``--basetemp`` to keep them).
"""

import importlib.util
import json
import shutil
import threading

import mosaik
import pytest

from browser import open_page
from conftest import DEMO, REPO, free_port, run_scenario
from smartgrid_lab import runs, simulators
from smartgrid_lab.grading import cli as grading

STEPS = 24 * 60
MORNING = 12 * 3600 + 30 * 60  # the voltage starter has left the band by then


class PageOfARun:
    """A scenario run in this process, in a thread, the way runs.run_world
    runs it (the outcome goes to the page); its page keeps serving after the
    run until :meth:`close`."""

    def __init__(self, scenario: str, results, rt_factor=None, swap=(), until=None):
        path = REPO / "scenarios" / f"{scenario}.py"
        spec = importlib.util.spec_from_file_location(scenario, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        self.run = runs.new_run(runs.parse_args(
            ["--results", str(results), "--serve", f"127.0.0.1:{port}"]), scenario)
        sim_config = simulators.in_process(runs.swapped(module.SIM_CONFIG, list(swap)))
        self.world = mosaik.World(sim_config, skip_greetings=True, configure_logging=False)
        self.run.build(self.world, module.create_scenario)
        self.outcome = None
        self.thread = threading.Thread(target=self._run, args=(until or module.END, rt_factor))
        self.thread.start()

    def _run(self, until, rt_factor):
        try:
            self.world.run(until=until, rt_factor=rt_factor, print_progress=False,
                           shutdown=False)
            self.outcome = {"status": "completed", "simulated_seconds_reached": until}
        except Exception as error:  # noqa: BLE001 - the failure test wants it
            self.outcome = runs.failed(self.world, error)
        runs.show_outcome(self.run, self.outcome)
        self.world.loop.run_forever()  # the page goes on serving

    def close(self):
        self.world.loop.call_soon_threadsafe(self.world.loop.stop)
        self.thread.join(60)
        self.world.shutdown()


def clock(page) -> str:
    return page.locator("#lab-clock").text_content()


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:Simulation too slow for real-time factor")
def test_voltage_exercise_live_and_after_the_run(tmp_path):
    # slowed: about 30 s for the day, so a browser can watch it
    lab = PageOfARun("voltage", tmp_path / "results", rt_factor=0.0003)
    try:
        with open_page(lab.url) as (page, problems):
            # the clock advances while the run goes on
            page.wait_for_function("() => window.lab.steps().length > 0")
            first = clock(page)
            page.wait_for_timeout(2000)
            assert clock(page) > first, (first, clock(page))  # same day, "HH:MM" last
            assert clock(page).startswith("Sat 21 Jun 2025, ")
            assert "simulated min per second" in page.locator("#lab-run").text_content()
            page.screenshot(path=tmp_path / "voltage-early.png")

            # at midday the starter leaves the band: those nodes are ringed
            page.wait_for_selector("#topology .node.out-of-band", timeout=60_000)
            ringed, out = page.evaluate("""() => [
                d3.selectAll('#topology .node.out-of-band').data().map(n => n.name).sort(),
                window.lab.steps()[window.lab.steps().length - 1].out_of_band.sort()]""")
            assert ringed == out and all("PQBus" not in name for name in ringed)
            assert all(name.startswith("Grid-0.0-node_") for name in ringed), ringed
            page.screenshot(path=tmp_path / "voltage-midday.png")

            # after the run: one point per step in every curve, the outcome said
            page.wait_for_function("() => window.lab.outcome() !== null", timeout=90_000)
            assert lab.outcome["status"] == "completed"
            steps = page.evaluate("window.lab.steps()")
            assert [step["time"] for step in steps] == list(range(0, 24 * 3600, 60))
            assert max(step["v_max"] for step in steps) > 1.05  # the starter's problem
            # and the four objectives' KPIs every 15 steps
            assert page.evaluate("window.lab.points()") == [[STEPS, STEPS], [STEPS],
                                                            [STEPS, STEPS]] + [[STEPS // 15]] * 4
            assert page.locator("#lab-run").text_content().startswith("100 % of the run")
            assert "completed in" in page.locator("#lab-run").text_content()
            assert clock(page) == "Sat 21 Jun 2025, 23:59"
            assert not page.locator("#lab-error").is_visible()
            page.screenshot(path=tmp_path / "voltage-after.png")
            assert problems == []
    finally:
        lab.close()


@pytest.mark.browser
def test_a_failed_run_shows_its_error_and_the_past_runs(tmp_path, monkeypatch, local_run):
    monkeypatch.setenv("LAB_FAULT_CALL", "step")
    monkeypatch.setenv("LAB_FAULT_AT", str(3 * 3600))
    lab = PageOfARun("demo", local_run.parent,  # beside a complete run of the demo
                     swap=["Households=faulty_sims:FaultyHouseholds"])
    try:
        with open_page(lab.url) as (page, problems):
            error = page.locator("#lab-error")
            error.wait_for(timeout=60_000)
            assert lab.outcome["status"] == "failed"
            text = error.text_content()
            assert text.startswith("The run failed at 0"), text
            assert "injected fault in step at 10800 s" in text
            # the runs in the results folder: the complete one (this one has
            # no manifest: runs.main writes it, and it is not running this)
            page.locator("#lab-runs .run").first.wait_for()
            runs_listed = page.locator("#lab-runs .run span").all_text_contents()
            assert len(runs_listed) == 1 and runs_listed[0].startswith(
                "local · demo · local · completed · "), runs_listed
            page.screenshot(path=tmp_path / "failed.png")
            assert problems == []
    finally:
        lab.close()


def test_without_a_terminal_a_run_prints_progress_and_warns_once(tmp_path):
    # 0.0001 s per simulated second is faster than the demo runs here
    done = run_scenario(DEMO, "--results", str(tmp_path), "--run-id", "notty",
                        "--rt-factor", "0.0001", "--serve", f"127.0.0.1:{free_port()}")
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stdout.splitlines() if line.startswith("progress: ")]
    assert progress, done.stdout
    assert all("% of the run" in line and "simulated min per second" in line
               for line in progress)
    assert "Simulation too slow" not in done.stderr
    assert done.stderr.count("cannot keep up with the real-time factor 0.0001 (") == 1, done.stderr
    assert done.stderr.count("fell behind the real-time factor 0.0001 in ") == 1, done.stderr


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory, local_run):
    """A results folder with two finished runs: the demo's day, and the
    voltage exercise's morning, graded."""
    results = tmp_path_factory.mktemp("finished")
    shutil.copytree(local_run, results / "local")
    done = run_scenario(REPO / "scenarios" / "voltage.py", "--results", str(results),
                        "--run-id", "morning", "--until", str(MORNING),
                        "--serve", f"127.0.0.1:{free_port()}")
    assert done.returncode == 0, done.stderr
    assert grading.main(["grade", str(results / "morning")]) == 1  # FAIL: out of band
    return results


def objective_rows(page) -> list[str]:
    return page.locator("#lab-objectives .objective").all_text_contents()


@pytest.mark.browser
def test_objectives_live_and_replays_of_finished_runs(tmp_path, finished_runs):
    lab = PageOfARun("voltage", finished_runs, until=2 * 3600)  # no manifest: not listed
    try:
        with open_page(lab.url) as (page, problems):
            # live: every objective of the exercise, its KPI so far and its threshold
            page.wait_for_function("() => window.lab.outcome() !== null", timeout=60_000)
            page.wait_for_function("() => window.lab.objective_points().length == 8")
            rows = objective_rows(page)
            assert rows[0] == ("minutes with any node outside 0.95–1.05 p.u.: 0 min "
                               "(objective <= 0) ok"), rows
            assert [row.rsplit("(objective ", 1)[1] for row in rows] == [
                "<= 0) ok", "<= 10) ok", "<= 100) ok", "<= 100) ok"], rows
            assert page.evaluate("window.lab.points()")[3:] == [[8]] * 4
            page.locator("#lab").evaluate("panel => panel.scrollTo(0, panel.scrollHeight)")
            page.screenshot(path=tmp_path / "objectives-live.png")

            # the finished runs, newest first, each can be replayed
            listed = page.locator("#lab-runs .run")
            listed.first.wait_for()
            assert [r.split(" · ")[0] for r in
                    page.locator("#lab-runs .run span").all_text_contents()] == ["morning", "local"]
            assert listed.locator("button").all_text_contents() == ["replay", "replay"]

            # the demo's day at its end: every step, its clock, its manifest
            listed.filter(has_text="local · demo").locator("button").click()
            page.wait_for_function("() => window.lab.replayed() !== null")
            assert page.evaluate("window.lab.points()") == [[STEPS, STEPS], [STEPS],
                                                            [STEPS, STEPS]]
            assert clock(page) == "Sat 21 Jun 2025, 23:59"
            replay = page.locator("#lab-replay")
            assert replay.locator(".summary").text_content() == (
                "exercise demo · scenario demo · local · completed · no simulator swapped")
            assert replay.locator(".verdict").text_content().startswith("Not graded")
            assert objective_rows(page) == []
            assert max(step["pv_kw"] for step in page.evaluate(
                "window.lab.replayed().steps")) > 50  # the demo's PV, though this page has none
            page.screenshot(path=tmp_path / "replay-demo.png")

            # the graded morning: its objectives as they were, its verdict
            morning = MORNING // 60
            listed.filter(has_text="morning · voltage").locator("button").click()
            page.wait_for_function(f"() => window.lab.replayed().steps.length == {morning}")
            assert page.evaluate("window.lab.points()") == [
                [morning, morning], [morning], [morning, morning]] + [[morning // 15]] * 4
            assert clock(page) == "Sat 21 Jun 2025, 12:29"
            grade = json.loads((finished_runs / "morning" / "grading" / "grade.json").read_text())
            assert grade["problems"][0].startswith("voltage_band: ")
            assert replay.locator(".verdict").text_content() == (
                f"Graded FAIL, score {grade['score']}/100, {len(grade['problems'])} problems, "
                f"first: {grade['problems'][0]}")
            assert objective_rows(page)[0].startswith(
                "minutes with any node outside 0.95–1.05 p.u.: 3 min (objective <= 0) FAIL")
            page.screenshot(path=tmp_path / "replay-morning.png")

            # the slider goes back in the run: the clock, curves and objectives follow
            replay.locator("input").fill("359")
            assert clock(page) == "Sat 21 Jun 2025, 05:59"
            assert page.evaluate("window.lab.points()")[0] == [360, 360]
            assert objective_rows(page)[0].endswith(": 0 min (objective <= 0) ok")
            # to the first step out of band: its nodes are ringed on the topology
            first_out = page.evaluate(
                "window.lab.replayed().steps.findIndex(s => s.out_of_band.length > 0)")
            assert 11 * 60 < first_out < morning, first_out
            replay.locator("input").fill(str(first_out))
            ringed = page.evaluate(
                "d3.selectAll('#topology .node.out-of-band').data().map(n => n.name).sort()")
            assert ringed == sorted(page.evaluate(
                f"window.lab.replayed().steps[{first_out}].out_of_band")), ringed
            page.locator("#lab").evaluate("panel => panel.scrollTo(0, panel.scrollHeight)")
            page.screenshot(path=tmp_path / "replay-morning-first-out.png")

            # play animates the run from its start; pause stops it where it is
            replay.locator("input").fill("0")
            replay.locator("button.play").click()
            page.wait_for_timeout(400)
            replay.locator("button.play").click()
            assert replay.locator("button.play").text_content() == "play"
            shown = int(replay.locator("input").input_value())
            assert 0 < shown < morning - 1, shown
            assert page.evaluate("window.lab.points()")[0] == [shown + 1, shown + 1]
            assert clock(page) == f"Sat 21 Jun 2025, {shown // 60:02d}:{shown % 60:02d}"

            # and back to the live run
            replay.locator("button.live").click()
            assert clock(page) == "Sat 21 Jun 2025, 01:59"
            assert page.evaluate("window.lab.points()")[0] == [120, 120]
            assert problems == []
    finally:
        lab.close()
