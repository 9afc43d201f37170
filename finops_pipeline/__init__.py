"""finops-pipeline: a Dagster code location for trustworthy FinOps cost tables."""

__version__ = "0.1.0"
