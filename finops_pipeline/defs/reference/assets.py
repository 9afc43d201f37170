"""Reference data: dim_projects, stg_fx_rates, stg_allocation_rules and stg_pricing
(unpartitioned: they describe every month)."""


from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from finops_pipeline.ingest.reference import (
    load_allocation_rules,
    load_budgets,
    load_fx_rates,
    load_pricing,
    load_projects,
)
from finops_pipeline.resources import FinopsResource
from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.writer import replace_table
from transforms.intermediate.allocation.rules import rules_to_frame
from transforms.intermediate.costs_converted import MissingFxRate
from transforms.marts.analytics.budgets import convert_budgets

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
    return _publish(context, finops, schema.dim_projects, projects, problems, "reference/projects.csv",
                    teams=MetadataValue.text(teams))


@asset(group_name=GROUP, kinds={"pandas", "sql"})
def stg_fx_rates(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """Monthly FX rates (reporting-currency units per 1 unit of currency), one row per month and
    currency, from reference/fx_rates.csv."""
    settings = finops.settings()
    rates, problems = load_fx_rates(settings.reference_dir)
    return _publish(
        context, finops, schema.stg_fx_rates, rates, problems, "reference/fx_rates.csv",
        reporting_currency=settings.reporting_currency,
        currencies=MetadataValue.text(", ".join(sorted(rates["currency"].unique())) or "none"),
        latest_month=MetadataValue.text(str(rates["month"].max()) if len(rates) else "none"),
    )


@asset(group_name=GROUP, kinds={"yaml", "sql"})
def stg_allocation_rules(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """The allocation rules of reference/rules.yaml, validated, one row per rule in the order they
    apply. Any problem (unknown type, missing field, duplicate id, weights not summing to 1, ...)
    fails the asset with the line and the fix, so no cost table is built from a broken file."""
    ruleset = load_allocation_rules(finops.settings().reference_dir)
    frame = rules_to_frame(ruleset.rules)
    active = [r for r in ruleset.rules if r.active]
    listing = "\n".join(f"{i + 1}. `{r.id}` {r.type} {r.source} -> {', '.join(r.targets)} ({r.window_text()})"
                        + ("" if r.active else " — inactive") for i, r in enumerate(ruleset.rules))
    return _publish(context, finops, schema.stg_allocation_rules, frame, ruleset.problems, "reference/rules.yaml",
                    active_rules=len(active), rules=MetadataValue.md(listing or "no rules"))


@asset(group_name=GROUP, kinds={"pandas", "sql"})
def stg_pricing(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """The internal chargeback rate card from reference/pricing.csv (markup per service and date
    window; `*` = default). No file means no markup: chargeback cost = effective cost."""
    pricing, problems = load_pricing(finops.settings().reference_dir)
    return _publish(context, finops, schema.stg_pricing, pricing, problems, "reference/pricing.csv",
                    services=len(pricing))


@asset(group_name=GROUP, kinds={"pandas", "sql"})
def stg_budgets(context: AssetExecutionContext, finops: FinopsResource) -> MaterializeResult:
    """Monthly budgets per project from reference/budgets.csv, converted to the reporting currency
    at the month's FX rate (the latest earlier one when the month has none)."""
    settings = finops.settings()
    budgets, problems = load_budgets(settings.reference_dir, settings.reporting_currency)
    fx, fx_problems = load_fx_rates(settings.reference_dir)
    if not problems and not fx_problems:
        try:
            budgets = convert_budgets(budgets, fx, settings.reporting_currency)
        except MissingFxRate as exc:
            problems = [f"reference/budgets.csv: {exc}"]
    else:
        budgets = budgets.assign(budget=float("nan"))
    return _publish(context, finops, schema.stg_budgets, budgets, problems + fx_problems, "reference/budgets.csv",
                    projects=int(budgets["project"].nunique()) if len(budgets) else 0)
