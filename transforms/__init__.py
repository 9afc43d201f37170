"""Pure pandas transforms in dbt layers: DataFrames in, DataFrames out.

Nothing in this package reads files, environment variables or databases, and nothing imports
Dagster: the assets in ``finops_pipeline`` are thin wrappers around these functions.
"""
