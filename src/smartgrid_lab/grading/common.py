"""What every part of the grader shares: where things are, and its two kinds of finding.

A :class:`Problem` makes a run FAIL; :class:`Unusable` input cannot be graded
at all (ERROR).
"""

import dataclasses
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RESULTS = REPO / "results"


class Unusable(Exception):
    """Input that cannot be graded at all; the message is the verdict line."""


@dataclasses.dataclass
class Problem:
    where: str  # the dataset, entity or rule: "Series/Grid-0.0-node_a1/Vm"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

