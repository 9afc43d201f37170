"""Reference data: dim_projects and stg_fx_rates (unpartitioned: they describe every month)."""


from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from finops_pipeline.ingest.reference import load_fx_rates, load_projects
from finops_pipeline.resources import FinopsResource
from finops_pipeline.warehouse.schema import dim_projects as dim_projects_table
from finops_pipeline.warehouse.schema import stg_fx_rates as stg_fx_rates_table
from finops_pipeline.warehouse.writer import replace_table

GROUP = "reference"


def _publish(context, finops: FinopsResource, table, frame, problems: list[str], source: str, **metadata) -> MaterializeResult:
    """Fail on any problem in the reference file, else replace the table with its rows."""
    if problems:
        raise Failure(description=f"{source} has {len(problems)} problem(s): " + " | ".join(problems[:20]))
    rows = replace_table(finops.engine(), table, frame)
    context.log.info(f"{table.name}: {rows} rows from {source}")
    return MaterializeResult(metadata={"table": table.name, "dagster/row_count": rows, **metadata})


@asset(group_name=GROUP, kinds={"pandas", "sql"})
def dim_projects(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """One row per project from reference/projects.csv: code, owner, team and mapped sub-accounts."""
    settings = finops.settings()
    projects, _, problems = load_projects(settings.reference_dir)
    teams = ", ".join(sorted(projects["team"].dropna().unique())) or "none"
    return _publish(context, finops, dim_projects_table, projects, problems, "reference/projects.csv",
                    teams=MetadataValue.text(teams))


@asset(group_name=GROUP, kinds={"pandas", "sql"})
def stg_fx_rates(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """Monthly FX rates (reporting-currency units per 1 unit of currency), one row per month and
    currency, from reference/fx_rates.csv."""
    settings = finops.settings()
    rates, problems = load_fx_rates(settings.reference_dir)
    return _publish(
        context, finops, stg_fx_rates_table, rates, problems, "reference/fx_rates.csv",
        reporting_currency=settings.reporting_currency,
        currencies=MetadataValue.text(", ".join(sorted(rates["currency"].unique())) or "none"),
        latest_month=MetadataValue.text(str(rates["month"].max()) if len(rates) else "none"),
    )
