"""Reference data: dim_projects and stg_fx_rates (unpartitioned: they describe every month)."""


from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from finops_pipeline.ingest.reference import load_fx_rates, load_projects
from finops_pipeline.resources import FinopsResource
from finops_pipeline.warehouse.schema import dim_projects as dim_projects_table
from finops_pipeline.warehouse.schema import stg_fx_rates as stg_fx_rates_table
from finops_pipeline.warehouse.writer import replace_table

GROUP = "reference"


def _fail_on(problems: list[str], what: str) -> None:
    if problems:
        raise Failure(description=f"{what} has {len(problems)} problem(s): " + " | ".join(problems[:20]))


@asset(group_name=GROUP, kinds={"pandas", "sql"})
def dim_projects(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """One row per project from reference/projects.csv: code, owner, team and mapped sub-accounts."""
    settings = finops.settings()
    projects, _, problems = load_projects(settings.reference_dir)
    _fail_on(problems, "reference/projects.csv")
    rows = replace_table(finops.engine(), dim_projects_table, projects)
    context.log.info(f"dim_projects: {rows} projects")
    return MaterializeResult(
        metadata={
            "table": "dim_projects",
            "dagster/row_count": rows,
            "teams": MetadataValue.text(", ".join(sorted(projects["team"].dropna().unique())) or "none"),
        }
    )


@asset(group_name=GROUP, kinds={"pandas", "sql"})
def stg_fx_rates(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """Monthly FX rates (reporting-currency units per 1 unit of currency), one row per month and
    currency, from reference/fx_rates.csv."""
    settings = finops.settings()
    rates, problems = load_fx_rates(settings.reference_dir)
    _fail_on(problems, "reference/fx_rates.csv")
    rows = replace_table(finops.engine(), stg_fx_rates_table, rates)
    context.log.info(f"stg_fx_rates: {rows} rates for {rates['currency'].nunique()} currencies")
    return MaterializeResult(
        metadata={
            "table": "stg_fx_rates",
            "dagster/row_count": rows,
            "reporting_currency": settings.reporting_currency,
            "currencies": MetadataValue.text(", ".join(sorted(rates["currency"].unique())) or "none"),
            "latest_month": MetadataValue.text(str(rates["month"].max()) if len(rates) else "none"),
        }
    )
