"""``python -m smartgrid_lab.grading``: see :mod:`smartgrid_lab.grading.cli`."""

import sys

from smartgrid_lab.grading.cli import main

sys.exit(main())
