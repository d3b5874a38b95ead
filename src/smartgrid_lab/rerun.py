"""Rerun a run from its manifest and say whether the result is identical.

    python -m smartgrid_lab.rerun RUN      # RUN: a run id under results/, or its folder

The manifest names the scenario, how each simulator ran (in-process class or
container image) and a checksum of every HDF5 dataset. The rerun uses the same
scenario the same way, as run ``<RUN>-rerun-<n>``, and compares checksums.
When they differ, it names what differs in the numeric environment the two
manifests record (variables, BLAS kernels and threads, numpy's dispatch), the
usual cause when scenario, lock and data are the same.
"""

import json
import subprocess
import sys
from pathlib import Path

from smartgrid_lab import manifest, numeric

REPO = Path(__file__).resolve().parents[2]


def rerun_command(record: dict, results: Path, run_id: str) -> list[str]:
    """The command that repeats the run described by *record*."""
    scenario = str(REPO / record["scenario"]["file"])
    exercise = record.get("exercise") or record["scenario"]["name"]
    grid = record["scenario"].get("params", {}).get("grid", "lab")
    grid = "" if grid == "lab" else grid
    if record["mode"] == "containers":
        swaps = [f"{sim['service']}={sim['image'].removeprefix('smartgrid-lab/')}"
                 for sim in record["simulators"].values()
                 if sim.get("image") and sim["image"] != f"smartgrid-lab/{sim['service']}"]
        return ["make", "--no-print-directory", "up", f"EX={exercise}", f"RUN_ID={run_id}",
                f"LAB_RT_FACTOR={record['scenario']['rt_factor']}", f"SWAP={' '.join(swaps)}",
                f"GRID={grid}"]
    swaps = [f"--swap={name}={sim['python']}" for name, sim in record["simulators"].items()]
    return [sys.executable, scenario, "--results", str(results), "--run-id", run_id,
            "--exercise", exercise, "--serve", "127.0.0.1:0", *swaps,
            *(["--grid", grid] if grid else [])]


def differences(before: dict, after: dict) -> list[str]:
    """Datasets whose checksum, shape or presence differs between two manifests."""
    names = sorted(set(before) | set(after))
    return [name for name in names if before.get(name) != after.get(name)]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[0]) if Path(argv[0]).is_dir() else REPO / "results" / argv[0]
    try:
        record = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        print(f"error: cannot read the manifest of run {argv[0]!r}: {error}", file=sys.stderr)
        return 2
    if record.get("status") != "completed" or "hdf5" not in record:
        print(f"error: run {argv[0]!r} did not complete; there is nothing to reproduce.",
              file=sys.stderr)
        return 2
    for label, recorded, current in [
        ("scenario file", record["scenario"]["sha256"], manifest.sha256_file(REPO / record["scenario"]["file"])),
        ("requirements.lock", record["lock_sha256"], manifest.sha256_file(manifest.LOCK_FILE)),
    ]:
        if recorded != current:
            print(f"note: the {label} changed since the run; an identical result is unlikely.")
    n = 1 + sum(1 for _ in directory.parent.glob(f"{directory.name}-rerun-*"))
    run_id = f"{directory.name}-rerun-{n}"
    print(f"Rerunning {directory.name} as {run_id} ({record['mode']}) ...", flush=True)
    done = subprocess.run(rerun_command(record, directory.parent, run_id), cwd=REPO)
    if done.returncode != 0:
        print(f"error: the rerun failed (exit {done.returncode}).", file=sys.stderr)
        return 1
    again = json.loads((directory.parent / run_id / "manifest.json").read_text())
    differing = differences(record["hdf5"]["datasets"], again["hdf5"]["datasets"])
    if differing:
        print(f"DIFFERENT: {len(differing)} datasets differ from {directory.name}, "
              f"e.g. {', '.join(differing[:5])}")
        causes = numeric.differences(record, again)
        print("The numeric environment differs: " + "; ".join(causes) if causes else
              "The numeric environment is the same in both manifests.")
        return 1
    print(f"IDENTICAL: all {len(record['hdf5']['datasets'])} datasets of {run_id} are "
          f"bit-identical to {directory.name}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
