"""The lab's panel on the page, looked at in headless Chromium during and
after real in-process runs: the clock advances in a slowed run, the voltage
exercise's starter leaves the band and its nodes are ringed, the curves hold
one point per step, a failed run shows its error; and what a run prints when
its output is not a terminal.

Screenshots go to pytest's tmp_path (``--basetemp`` to keep them).
"""

import importlib.util
import threading

import mosaik
import pytest

from browser import open_page
from conftest import DEMO, REPO, free_port, run_scenario
from smartgrid_lab import runs, simulators

STEPS = 24 * 60


class PageOfARun:
    """A scenario run in this process, in a thread, the way runs.run_world
    runs it (the outcome goes to the page); its page keeps serving after the
    run until :meth:`close`."""

    def __init__(self, scenario: str, results, rt_factor=None, swap=()):
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
        module.create_scenario(self.world, self.run)
        self.outcome = None
        self.thread = threading.Thread(target=self._run, args=(module.END, rt_factor))
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
            assert page.evaluate("window.lab.points()") == [[STEPS, STEPS], [STEPS],
                                                            [STEPS, STEPS]]
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
            runs_listed = page.locator("#lab-runs .run").all_text_contents()
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
