"""Read API over the warehouse tables (FastAPI): `finops api` serves `create_app()`."""

from finops_pipeline.api.app import create_app

__all__ = ["create_app"]
