"""Costs: int_costs_converted -> int_costs_allocated -> fct_costs_daily -> fct_costs_monthly (per
billing month) -> fct_kpis_monthly (all months)."""


import pandas as pd
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from sqlalchemy import select

from finops_pipeline.defs.conservation import MonthlyTotals, compare_month_totals, conservation_result, warning_result
from finops_pipeline.defs.partitions import billing_month_partitions, monthly_backfill_policy
from finops_pipeline.resources import FinopsResource
from finops_pipeline.warehouse import schema
from finops_pipeline.warehouse.locks import rebuild_lock
from finops_pipeline.warehouse.reader import read_partition, read_table
from finops_pipeline.warehouse.writer import replace_month, replace_table
from transforms.intermediate.allocation.engine import SPLIT_AMOUNTS, RuleEffect, apply_rules
from transforms.intermediate.allocation.rules import project_warnings, rules_from_frame
from transforms.intermediate.costs_converted import MissingFxRate, convert_costs, resolve_fx_rates
from transforms.marts.costs import MONTHLY_GRAIN, VALUES, build_costs_daily, build_costs_monthly
from transforms.marts.kpis import build_kpis_monthly
from transforms.money import cents, exact_total

GROUP = "costs"
AMOUNTS = ["billed_cost", "effective_cost", "list_cost", "source_rows"]
ALLOCATED_AMOUNTS = [*SPLIT_AMOUNTS, "source_rows"]
MONTHLY_COLUMNS = [*MONTHLY_GRAIN, *VALUES]  # what fct_costs_monthly reads of fct_costs_daily
PARTITIONED = dict(partitions_def=billing_month_partitions, backfill_policy=monthly_backfill_policy, group_name=GROUP)


class _MonthByMonth:
    """Writes a partitioned table one month at a time and keeps only what the asset's metadata and
    conservation check need: per-month exact totals, row counts and the effective cost column.

    A single-run backfill hands an asset many months; transforming them all at once held every
    month's rows several times over (5 GiB for 12 months of 1M billing rows). Every transform here
    works within a billing month, so a month alone gives the same rows (docs/performance.md)."""

    def __init__(self, context, engine, table, months: list[str], checked: list[str]):
        self.context, self.engine, self.table, self.months = context, engine, table, months
        self.checked = MonthlyTotals(checked)
        self.rows = 0
        self.by_month: list[pd.Series] = []
        self.effective: list[pd.Series] = []
        self.chargeback: list[pd.Series] = []

    def write(self, month: str, before: pd.DataFrame, after: pd.DataFrame, checked_after: pd.DataFrame | None = None) -> None:
        """Replace ``month`` with ``after`` (emptied when it has no rows, not left stale)."""
        replace_month(self.engine, month, {self.table: after})
        self.checked.add(before, after if checked_after is None else checked_after)
        self.rows += len(after)
        if not after.empty:
            self.by_month.append(after.groupby("billing_month")["effective_cost"].sum())
            self.effective.append(after["effective_cost"])
            if "chargeback_cost" in after:
                self.chargeback.append(after["chargeback_cost"])

    def empty(self) -> pd.DataFrame:
        return pd.DataFrame(columns=[c.name for c in self.table.columns])

    def problems(self) -> list[str]:
        return self.checked.problems(self.months)

    def summary(self) -> dict:
        months = self.months
        self.context.log.info(f"{self.table.name}: {self.rows} rows written for {len(months)} month(s) {months[0]}..{months[-1]}")
        by_month = pd.concat(self.by_month).map(cents).to_frame().to_markdown() if self.by_month else "no rows"
        return {
            "table": self.table.name,
            "dagster/row_count": self.rows,
            "months": MetadataValue.text(", ".join(months)),
            "effective_cost_total": cents(exact_total(_stacked(self.effective))),
            "effective_cost_by_month": MetadataValue.md(by_month),
        }

    def chargeback_total(self) -> str:
        return cents(exact_total(_stacked(self.chargeback)))


def _stacked(parts: list[pd.Series]) -> pd.Series:
    return pd.concat(parts, ignore_index=True) if parts else pd.Series(dtype="float64")


@asset(
    deps=["stg_billing", "stg_fx_rates"],
    kinds={"pandas", "sql"},
    check_specs=[
        AssetCheckSpec("amounts_conserved", asset="int_costs_converted", blocking=True,
                       description="Original-currency amounts and source rows equal stg_billing's, per month."),
        AssetCheckSpec("fx_rates_exact", asset="int_costs_converted",
                       description="Every month has its own FX rate (WARN when an earlier month's rate was carried forward)."),
    ],
    **PARTITIONED,
)
def int_costs_converted(context: AssetExecutionContext, finops: FinopsResource):
    """stg_billing at the same daily grain with amounts converted to the reporting currency; the
    original amounts, the rate and where it came from (exact / carried_forward:YYYY-MM) are kept."""
    settings, engine = finops.settings(), finops.engine()
    months = list(context.partition_keys)
    fx = read_table(engine, schema.stg_fx_rates)
    try:  # every month's rates first: a missing rate fails the asset before any month is written
        resolve_fx_rates(_currencies_by_month(engine, months), fx, settings.reporting_currency)
    except MissingFxRate as exc:
        raise Failure(description=str(exc)) from exc
    written = _MonthByMonth(context, engine, schema.int_costs_converted, months,
                           ["billed_cost_orig", "effective_cost_orig", "list_cost_orig", "source_rows"])
    carried_pairs: set[str] = set()
    for month in months:
        stg = read_partition(engine, schema.stg_billing, [month])
        converted = convert_costs(stg, fx, settings.reporting_currency) if not stg.empty else written.empty()
        renamed = converted.rename(columns={f"{a}_billing_currency": f"{a}_orig" for a in ("billed_cost", "effective_cost", "list_cost")})
        before = stg.rename(columns={a: f"{a}_orig" for a in ("billed_cost", "effective_cost", "list_cost")})
        written.write(month, before, converted, renamed)
        carried = converted[converted["fx_rate_source"].astype(str).str.startswith("carried_forward")]
        carried_rows = carried[["billing_month", "billing_currency", "fx_rate_source"]].itertuples(index=False)
        carried_pairs |= {f"{m} {c} <- {s}" for m, c, s in carried_rows}
    yield MaterializeResult(metadata=written.summary())
    yield conservation_result("amounts_conserved", written.problems(), "original amounts unchanged by conversion", months)
    yield warning_result("fx_rates_exact", sorted(carried_pairs), "Months converted with an earlier month's rate (add the "
                         "month's rate to reference/fx_rates.csv)", "carried_forward")


def _currencies_by_month(engine, months: list[str]) -> pd.DataFrame:
    """The (billing_month, billing_currency) pairs stg_billing holds in these months."""
    t = schema.stg_billing
    stmt = select(t.c.billing_month, t.c.billing_currency).distinct().where(t.c.billing_month.in_(months))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=["billing_month", "billing_currency"])


@asset(
    deps=["int_costs_converted", "stg_allocation_rules", "dim_projects"],
    kinds={"pandas", "sql"},
    check_specs=[
        AssetCheckSpec("allocation_conserved", asset="int_costs_allocated", blocking=True,
                       description="Per month, every amount (reporting and billing currency) and the source rows "
                       "equal int_costs_converted's: rules move cost, never create or lose it."),
        AssetCheckSpec("rules_name_known_projects", asset="int_costs_allocated",
                       description="Every rule names projects seen in the data, projects.csv or an earlier rule "
                       "(WARN: a typo would silently match nothing)."),
    ],
    **PARTITIONED,
)
def int_costs_allocated(context: AssetExecutionContext, finops: FinopsResource):
    """int_costs_converted with the rules of stg_allocation_rules applied in order: renamed,
    transferred, moved and distributed to the projects finance charges. Each row keeps its lineage
    (project_before_rules, allocation_rule_id, and for split rows allocation_method and
    allocated_ratio)."""
    engine = finops.engine()
    months = list(context.partition_keys)
    rules = rules_from_frame(read_table(engine, schema.stg_allocation_rules))
    written = _MonthByMonth(context, engine, schema.int_costs_allocated, months, ALLOCATED_AMOUNTS)
    effects: list[RuleEffect] = []
    for month in months:
        converted = read_partition(engine, schema.int_costs_converted, [month])
        allocated, month_effects = apply_rules(converted, rules)
        written.write(month, converted, allocated)
        effects = [RuleEffect(e.rule_id, e.type, e.rows + m.rows, e.effective_cost + m.effective_cost)
                   for e, m in zip(effects, month_effects)] if effects else month_effects
    problems = written.problems()
    effect_rows = "\n".join(f"| {e.rule_id} | {e.type} | {e.rows:,} | {e.effective_cost:,.2f} |" for e in effects)
    metadata = written.summary()
    metadata["rules_applied"] = MetadataValue.md(
        "| rule | type | rows matched | effective cost moved |\n|---|---|---:|---:|\n" + effect_rows if effects else "no rules"
    )
    yield MaterializeResult(metadata=metadata)
    yield conservation_result("allocation_conserved", problems, "allocation moves cost, never creates or loses it", months)
    known = set(read_table(engine, schema.dim_projects)["project"]) | _projects_in(engine)
    yield warning_result("rules_name_known_projects", project_warnings(rules, known),
                         "Rules that name a project nobody has seen (check the spelling in reference/rules.yaml)",
                         "warnings")


def _projects_in(engine) -> set[str]:
    """Every project int_costs_converted holds, over all months (a rule may target a month not in this run)."""
    table = schema.int_costs_converted
    with engine.connect() as conn:
        return {p for (p,) in conn.execute(select(table.c.project).distinct()) if p is not None}


@asset(
    deps=["int_costs_allocated", "dim_projects", "stg_pricing"],
    kinds={"pandas", "sql"},
    check_specs=[AssetCheckSpec("totals_match_allocated", asset="fct_costs_daily", blocking=True,
                                description="Per month, amounts and source rows equal int_costs_allocated's.")],
    **PARTITIONED,
)
def fct_costs_daily(context: AssetExecutionContext, finops: FinopsResource):
    """Daily allocated cost per charge day x provider x account x project (with team, code and
    owner) x service x region x charge category x currency, amounts in the reporting currency,
    with the chargeback price and the allocation lineage."""
    engine = finops.engine()
    months = list(context.partition_keys)
    projects = read_table(engine, schema.dim_projects)
    pricing = read_table(engine, schema.stg_pricing)
    written = _MonthByMonth(context, engine, schema.fct_costs_daily, months, AMOUNTS)
    for month in months:
        allocated = read_partition(engine, schema.int_costs_allocated, [month])
        daily = build_costs_daily(allocated, projects, pricing) if not allocated.empty else written.empty()
        written.write(month, allocated, daily)
    metadata = written.summary()
    metadata["chargeback_cost_total"] = written.chargeback_total()
    yield MaterializeResult(metadata=metadata)
    yield conservation_result("totals_match_allocated", written.problems(), "daily mart = allocated costs", months)


@asset(
    deps=["fct_costs_daily"],
    kinds={"pandas", "sql"},
    check_specs=[AssetCheckSpec("totals_match_daily", asset="fct_costs_monthly", blocking=True,
                                description="Per month, amounts and source rows equal fct_costs_daily's.")],
    **PARTITIONED,
)
def fct_costs_monthly(context: AssetExecutionContext, finops: FinopsResource):
    """Monthly cost per billing month x project x team x provider x service x currency, amounts in
    the reporting currency. The table most dashboards start from."""
    engine = finops.engine()
    months = list(context.partition_keys)
    written = _MonthByMonth(context, engine, schema.fct_costs_monthly, months, AMOUNTS)
    for month in months:
        daily = read_partition(engine, schema.fct_costs_daily, [month], MONTHLY_COLUMNS)
        written.write(month, daily, build_costs_monthly(daily) if not daily.empty else written.empty())
    yield MaterializeResult(metadata=written.summary())
    yield conservation_result("totals_match_daily", written.problems(), "monthly mart = daily mart", months)




@asset(
    deps=["fct_costs_monthly"],
    kinds={"pandas", "sql"},
    group_name=GROUP,
    check_specs=[AssetCheckSpec("kpis_match_monthly", asset="fct_kpis_monthly", blocking=True,
                                description="Per month, the organisation total equals fct_costs_monthly's and the "
                                "team totals add up to it.")],
)
def fct_kpis_monthly(context: AssetExecutionContext, finops: FinopsResource):
    """KPI cards per billing month, for the organisation and per team: total spend, change vs the
    previous month, trailing-12-month average, top project, projects with spend. Rebuilt over all
    months each time (a re-run month changes the next months' comparisons)."""
    engine = finops.engine()
    with rebuild_lock(engine, schema.fct_kpis_monthly):  # runs overlapping: the last rebuild sees every month
        monthly = read_table(engine, schema.fct_costs_monthly)
        kpis = build_kpis_monthly(monthly)
        rows = replace_table(engine, schema.fct_kpis_monthly, kpis)
    months = sorted(monthly["billing_month"].unique())
    org = kpis[kpis["scope"] == "organisation"].rename(columns={"total_cost": "effective_cost"})
    teams = kpis[kpis["scope"] == "team"].rename(columns={"total_cost": "effective_cost"})
    problems = compare_month_totals(monthly, org, ["effective_cost"], months, len(monthly))
    problems += [f"teams: {p}" for p in compare_month_totals(org, teams, ["effective_cost"], months, len(monthly))]
    context.log.info(f"fct_kpis_monthly: {rows} rows for {len(months)} month(s)")
    yield MaterializeResult(metadata={"table": "fct_kpis_monthly", "dagster/row_count": rows, "months": len(months)})
    yield conservation_result("kpis_match_monthly", problems, "KPI totals = monthly mart", months)
