"""`python -m finops_pipeline.cli ...`: the `finops` command without its console script."""

import sys

from finops_pipeline.cli import main

sys.exit(main())
