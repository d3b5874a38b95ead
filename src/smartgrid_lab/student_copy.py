"""A copy of the lab for students: everything but the exercises' solutions.

    python -m smartgrid_lab.student_copy DEST

Copies the files git knows of (tracked, or new and not ignored: no venv, no
build outputs, no results) except ``exercises/*/solution/``. The copy is a
complete lab: `make up`, `new-sim`, `check-sim`, `run-local` and `grade`
need no solution (objectives are graded on what a run achieves). Teachers
keep the solutions elsewhere and point `make run-solution SOLUTIONS=…` at them.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOLUTION = re.compile(r"^exercises/[^/]+/solution/")


def lab_files() -> list[str]:
    """The lab's files as git sees them: tracked, or new and not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\0")
    return sorted({f for f in listed if f and (REPO / f).is_file()})


def copy(destination: Path) -> int:
    if destination.exists() and any(destination.iterdir()):
        raise SystemExit(f"error: {destination} exists and is not empty; choose another DEST.")
    chosen = [name for name in lab_files() if not SOLUTION.match(name)]
    for name in chosen:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return len(chosen)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    destination = Path(argv[0]).resolve()
    count = copy(destination)
    print(f"Student copy in {destination}: {count} files, no exercise solutions. "
          f"There, `make up` sets everything up as here.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
