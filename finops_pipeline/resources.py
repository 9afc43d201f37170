"""Dagster resources. Values left unset fall back to the FINOPS_* environment at run time."""

from __future__ import annotations

from dagster import ConfigurableResource
from sqlalchemy import Engine

from finops_pipeline.settings import Settings, load_settings
from finops_pipeline.warehouse.engine import warehouse_engine


class FinopsResource(ConfigurableResource):
    """Where the data and the warehouse are, and the business settings of the pipeline."""

    data_dir: str | None = None
    warehouse_url: str | None = None
    reporting_currency: str | None = None
    project_tag_keys: str | None = None  # comma-separated
    state_dir: str | None = None

    def settings(self) -> Settings:
        return load_settings(
            data_dir=self.data_dir,
            warehouse_url=self.warehouse_url,
            reporting_currency=self.reporting_currency,
            project_tag_keys=self.project_tag_keys,
            state_dir=self.state_dir,
        )

    def engine(self) -> Engine:
        """This process's engine for the warehouse, its tables ensured (warehouse_engine)."""
        return warehouse_engine(self.settings().warehouse_url)
