"""Dagster definitions by domain: billing (ingest), reference (dimensions, FX), costs (marts)."""
