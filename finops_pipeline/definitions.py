"""The Dagster code location: `dagster dev -m finops_pipeline.definitions`.

Everything is found under ``defs/`` (Dagster's defs-folder autoloading): every asset, check, job,
schedule and sensor defined at module scope there, plus ``defs/resources.py`` (resources and the
executor). Adding an asset means adding it to a module of ``defs/``, nothing here.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
