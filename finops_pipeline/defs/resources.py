"""The resources every asset, sensor and schedule of ``defs/`` is given, and how runs execute."""

import dagster as dg

from finops_pipeline.resources import FinopsResource


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        # Unset fields fall back to the FINOPS_* environment at run time, never at import time.
        resources={"finops": FinopsResource()},
        # Runs launched by the daemon or the UI execute their steps in the run's own process, as
        # `finops run` does: the default executor starts one process per step, each importing
        # pandas, scikit-learn and the pipeline again (~15 steps: a 3-month backfill took ~2.5 min
        # instead of ~25 s on 2 cores), and the steps form a chain that could not run side by side
        # anyway. Months are parallelised by separate runs (docs/scaling.md), not by steps.
        executor=dg.in_process_executor,
    )
