"""Grade a run against a reference run: for teachers.

The run's recorded datasets are compared with the reference's within the
tolerances of a grading spec (:mod:`.replication`, :mod:`.spec`) and the run
is checked against physical rules (:mod:`.physics`); :mod:`.verdict` turns
that into PASS/FAIL/ERROR and a score, :mod:`.report` into a Markdown report.
Command line: ``python -m smartgrid_lab.grading`` (:mod:`.cli`).
"""

from smartgrid_lab.grading.physics import line_loading, per_unit
from smartgrid_lab.grading.report import PLOTS
from smartgrid_lab.grading.spec import EXACT, Tolerance, load_spec
from smartgrid_lab.grading.verdict import grade

__all__ = ["EXACT", "PLOTS", "Tolerance", "grade", "line_loading", "load_spec", "per_unit"]
