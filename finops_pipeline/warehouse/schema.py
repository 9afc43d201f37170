"""Warehouse table contracts. Names and columns are what BI tools and the read API rely on:
change them only together with docs/tables.md (a test checks the two agree)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Float, Index, Integer, MetaData, String, Table, Text

from transforms.staging.billing import FINANCE_DIMENSIONS

metadata = MetaData()

MONEY = Float(precision=53)  # float64; totals are compared with math.fsum (see transforms/money.py)


def _money(name: str, doc: str) -> Column:
    return Column(name, MONEY, comment=doc)


def _text(name: str, doc: str, nullable: bool = True) -> Column:
    return Column(name, Text, nullable=nullable, comment=doc)


def _month(doc: str = "Billing month, text YYYY-MM (the partition key)") -> Column:
    return Column("billing_month", String(7), nullable=False, comment=doc)


def _loaded_at() -> Column:
    return Column("loaded_at", DateTime(timezone=True), nullable=False, comment="When this partition was written (UTC)")


_DIMENSIONS = (
    ("provider", "Cloud or SaaS provider (FOCUS ProviderName / ServiceProviderName)"),
    ("billing_account_id", "Billing account (FOCUS BillingAccountId)"),
    ("sub_account_id", "Sub-account, subscription or project id (FOCUS SubAccountId; generic `account`)"),
    ("project", "Project the cost belongs to; 'unallocated' when no tag, mapping or column says"),
)
_SERVICE = (
    ("service_name", "Service (FOCUS ServiceName; generic `service`)"),
    ("service_category", "FOCUS ServiceCategory"),
    ("region", "Region id (FOCUS RegionId)"),
    ("charge_category", "FOCUS ChargeCategory: Usage, Purchase, Tax, Credit, Adjustment"),
)


_FINANCE_DOCS = {
    "cost_center": "Cost center id (general ledger cost_center_id; Azure CostCenter); null for most cloud bills",
    "cost_center_name": "Cost center name (general ledger cost_center_name)",
    "profit_center": "Profit center id (general ledger profit_center_id)",
    "profit_center_name": "Profit center name (general ledger profit_center_name)",
    "directorate": "Directorate / division (general ledger directorate)",
    "functional_area": "Functional area id (general ledger functional_area)",
    "functional_area_name": "Functional area name (general ledger functional_area_name)",
    "gl_account": "General-ledger account number (general_ledger_account)",
    "gl_account_name": "General-ledger account name (general_ledger_account_name)",
    "vendor": "Supplier or merchant paid (general ledger supplier; bank/card statement description or merchant)",
    "merchant_category": "Merchant category of a card or bank transaction (the statement's Category; Plaid "
                         "personal_finance_category)",
}
# Finance dimensions, in the order of transforms/staging/billing.py (the one list of their names)
_FINANCE = tuple((name, _FINANCE_DOCS[name]) for name in FINANCE_DIMENSIONS)


def _dims(pairs) -> list[Column]:
    return [_text(name, doc) for name, doc in pairs]


stg_billing = Table(
    "stg_billing",
    metadata,
    Column("charge_date", Date, nullable=False, comment="UTC day of ChargePeriodStart / date"),
    _month(),
    *_dims(_DIMENSIONS),
    _text("project_source", "How the project was found: tag, account, cost_center, column or unallocated"),
    *_dims(_SERVICE),
    *_dims(_FINANCE),
    _text("billing_currency", "ISO 4217 currency the amounts of this row are in", nullable=False),
    _money("billed_cost", "Invoiced amount, billing currency (FOCUS BilledCost)"),
    _money("effective_cost", "Amortised amount after discounts, billing currency (FOCUS EffectiveCost)"),
    _money("list_cost", "Amount at public list prices, billing currency (FOCUS ListCost)"),
    _text("source_file", "Landing file the rows came from (path under landing/billing/)", nullable=False),
    Column("source_rows", BigInteger, nullable=False, comment="Input rows summed into this row"),
    _loaded_at(),
    comment="Canonical billing rows at daily grain, amounts in billing currency. Partitioned by billing_month.",
)

quarantine_billing_rows = Table(
    "quarantine_billing_rows",
    metadata,
    _month("Billing month the row is filed under (its charge date, else billing period, else the file's month)"),
    _text("source_file", "Landing file the row came from", nullable=False),
    Column("line_number", BigInteger, comment="Line in the file (header = line 1)"),
    _text("reason", "Machine-readable reason: missing_date, unparseable_date, date_out_of_range, "
          "missing_amount, unparseable_amount, invalid_currency, malformed_row and the format-specific ones of "
          "docs/formats.md", nullable=False),
    _text("source_column", "Column of the file the reason is about, as the file names it (null for malformed_row)"),
    _text("detail", "What is wrong and how to fix it, starting with the column"),
    _money("billed_cost", "Billed amount if it could be parsed, billing currency"),
    _money("effective_cost", "Effective amount if it could be parsed, billing currency"),
    _text("billing_currency", "Currency as written in the file"),
    _text("raw_values", "The row's original values as JSON"),
    _loaded_at(),
    comment="Input rows that could not be loaded, with the reason. Partitioned by billing_month.",
)

excluded_billing_rows = Table(
    "excluded_billing_rows",
    metadata,
    _month("Billing month of the row's date"),
    _text("source_file", "Landing file the row came from", nullable=False),
    Column("line_number", BigInteger, comment="Line in the file (header = line 1; JSON: position in the list + 1)"),
    Column("charge_date", Date, comment="Date of the transaction"),
    _text("reason", "Why it is not a cost: card_payment, transfer, deposit or pending", nullable=False),
    _text("detail", "What the reason means"),
    _text("description", "The statement line's description (payee, memo)"),
    _money("amount", "The amount as the file writes it (its sign convention), billing currency"),
    _text("billing_currency", "Currency of amount"),
    _text("raw_values", "The row's original values as JSON"),
    _loaded_at(),
    comment="Readable input rows that are not costs (bank/card statements: card payments, transfers between own "
    "accounts, deposits; pending transactions). input rows = loaded + excluded + quarantined. "
    "Partitioned by billing_month.",
)

dim_projects = Table(
    "dim_projects",
    metadata,
    _text("project", "Project name (the key used in every cost table)", nullable=False),
    _text("code", "Finance / cost-centre code"),
    _text("owner", "Accountable owner"),
    _text("team", "Team that pays for the project"),
    _text("account_ids", "Sub-account ids mapped to this project (cloud accounts, cards, bank accounts), comma-separated"),
    _text("cost_centers", "Cost centers mapped to this project (general-ledger rows), comma-separated"),
    _loaded_at(),
    comment="Projects from reference/projects.csv, one row per project.",
)

stg_fx_rates = Table(
    "stg_fx_rates",
    metadata,
    Column("month", String(7), nullable=False, comment="Month the rate applies to, YYYY-MM"),
    _text("currency", "ISO 4217 currency converted from", nullable=False),
    Column("rate", Float(precision=53), nullable=False, comment="Reporting-currency units per 1 unit of currency"),
    _loaded_at(),
    comment="Monthly FX rates from reference/fx_rates.csv.",
)

def _reporting_amounts() -> list[Column]:
    return [
        _money("billed_cost", "Billed amount, reporting currency"),
        _money("effective_cost", "Effective amount, reporting currency"),
        _money("list_cost", "List amount, reporting currency"),
    ]


def _conversion() -> list[Column]:
    return [
    _text("reporting_currency", "Currency of the *_cost amounts (FINOPS_REPORTING_CURRENCY)", nullable=False),
    Column("fx_rate", Float(precision=53), nullable=False, comment="Rate applied: reporting units per billing unit"),
    _text("fx_rate_source", "exact (rate of the month), carried_forward:YYYY-MM (latest earlier month), "
          "or same_currency", nullable=False),
    ]

def _converted_rows() -> list[Column]:
    """Columns shared by int_costs_converted and int_costs_allocated."""
    return [
        Column("charge_date", Date, nullable=False, comment="UTC charge day"),
        _month(),
        *_dims(_DIMENSIONS),
        _text("project_source", "How the project was found"),
        *_dims(_SERVICE),
        *_dims(_FINANCE),
        _text("billing_currency", "Original currency", nullable=False),
        _money("billed_cost_billing_currency", "Billed amount in the original currency"),
        _money("effective_cost_billing_currency", "Effective amount in the original currency"),
        _money("list_cost_billing_currency", "List amount in the original currency"),
        *_conversion(),
        *_reporting_amounts(),
        _text("source_file", "Landing file the rows came from", nullable=False),
        Column("source_rows", BigInteger, nullable=False, comment="Input rows summed into this row"),
    ]


int_costs_converted = Table(
    "int_costs_converted",
    metadata,
    *_converted_rows(),
    _loaded_at(),
    comment="stg_billing converted to the reporting currency. Partitioned by billing_month.",
)

stg_allocation_rules = Table(
    "stg_allocation_rules",
    metadata,
    Column("rule_order", Integer, nullable=False, comment="Position in rules.yaml (1 = applied first)"),
    _text("rule_id", "Rule id (unique)", nullable=False),
    _text("rule_type", "rename_project, transfer_cost, move_service or distribute_cost", nullable=False),
    Column("active", Boolean, nullable=False, comment="false = the rule is kept in the file but does nothing"),
    Column("start_date", Date, comment="First charge date the rule applies to (inclusive); null = no limit"),
    Column("end_date", Date, comment="Last charge date the rule applies to (inclusive); null = no limit"),
    _text("source_project", "Project the rule takes cost from (`from`)"),
    _text("target_projects", "Project(s) the cost goes to (`to`), comma-separated"),
    _text("method", "distribute_cost only: even, fixed or proportional"),
    _text("parameters", "The rule's type-specific fields as JSON (from, to, match, service, method, weights)"),
    _text("description", "Why the rule exists, from the file"),
    _text("fingerprint", "Hash of what the rule does (changes when its effect can change)", nullable=False),
    Column("line", Integer, comment="Line of the rule in rules.yaml"),
    _loaded_at(),
    comment="Allocation rules from reference/rules.yaml, one row per rule in file order.",
)

stg_pricing = Table(
    "stg_pricing",
    metadata,
    _text("service", "Service name the markup applies to; * = every service without a row of its own",
          nullable=False),
    Column("markup_pct", Float(precision=53), nullable=False, comment="Markup in percent (15 = +15 %; negative = discount)"),
    Column("start", Date, comment="First charge date the markup applies to (inclusive); null = no limit"),
    Column("end", Date, comment="Last charge date the markup applies to (inclusive); null = no limit"),
    _loaded_at(),
    comment="Internal chargeback rate card from reference/pricing.csv.",
)

_ALLOCATION_LINEAGE = (
    ("allocation_rule_id", "Last allocation rule that changed this row; null when no rule applied"),
    ("allocation_method", "Split rows only: even, fixed or proportional (method of the last split)"),
)


def _allocation_lineage() -> list[Column]:
    return [
        _text("project_before_rules", "Project as attributed at ingest, before any allocation rule"),
        *_dims(_ALLOCATION_LINEAGE),
        Column("allocated_ratio", Float(precision=53),
               comment="Split rows only: share of the original row's cost this row carries (FOCUS AllocatedRatio)"),
    ]


def _project_attributes() -> list[Column]:
    return [
        _text("team", "Team of the project (dim_projects); null when the project is not in projects.csv"),
        _text("project_code", "Finance / cost-centre code of the project (dim_projects)"),
        _text("project_owner", "Accountable owner of the project (dim_projects)"),
    ]


def _chargeback() -> list[Column]:
    return [_money("chargeback_cost", "Internal price: effective_cost x (1 + markup_pct / 100), reporting currency")]


int_costs_allocated = Table(
    "int_costs_allocated",
    metadata,
    *_converted_rows(),
    *_allocation_lineage(),
    _loaded_at(),
    comment="int_costs_converted with the allocation rules of rules.yaml applied: same totals per month, "
    "projects as finance assigns them. Partitioned by billing_month.",
)

fct_costs_daily = Table(
    "fct_costs_daily",
    metadata,
    Column("charge_date", Date, nullable=False, comment="UTC charge day"),
    _month(),
    *_dims(_DIMENSIONS),
    *_project_attributes(),
    *_dims(_SERVICE),
    *_dims(_FINANCE),
    _text("billing_currency", "Original currency", nullable=False),
    *_conversion(),
    *_allocation_lineage(),
    *_reporting_amounts(),
    Column("markup_pct", Float(precision=53), nullable=False, comment="Chargeback markup applied (pricing.csv), percent"),
    *_chargeback(),
    _money("effective_cost_billing_currency", "Effective amount in the original currency"),
    Column("source_rows", BigInteger, nullable=False, comment="Input rows summed into this row"),
    _loaded_at(),
    comment="Daily allocated costs per project, account, service and region in the reporting currency. "
    "Partitioned by billing_month.",
)

fct_costs_monthly = Table(
    "fct_costs_monthly",
    metadata,
    _month(),
    _text("project", "Project (after allocation rules)"),
    *_project_attributes(),
    _text("provider", "Provider"),
    _text("service_name", "Service"),
    _text("service_category", "FOCUS ServiceCategory"),
    *_dims(_FINANCE),
    _text("billing_currency", "Original currency"),
    _text("reporting_currency", "Currency of the *_cost amounts", nullable=False),
    *_allocation_lineage(),
    *_reporting_amounts(),
    *_chargeback(),
    Column("source_rows", BigInteger, nullable=False, comment="Input rows summed into this row"),
    _loaded_at(),
    comment="Monthly allocated costs per project, provider and service in the reporting currency. "
    "Partitioned by billing_month.",
)

fct_kpis_monthly = Table(
    "fct_kpis_monthly",
    metadata,
    _month("Billing month, text YYYY-MM"),
    _text("scope", "organisation (whole company) or team", nullable=False),
    _text("team", "Team for scope = team ('unassigned' for projects without one); null for the organisation"),
    _text("reporting_currency", "Currency of the amounts"),
    _money("total_cost", "Effective cost of the month"),
    _money("chargeback_cost", "Chargeback cost of the month (internal prices)"),
    _money("previous_month_cost", "Effective cost of the calendar month before; null before the first month"),
    _money("change_abs", "total_cost - previous_month_cost"),
    Column("change_pct", Float(precision=53), comment="change_abs / previous_month_cost x 100; null when that is 0 or null"),
    _money("avg_monthly_cost_12m", "Mean monthly effective cost over the trailing 12 months (this one included; "
           "fewer at the start of the data)"),
    _text("top_project", "Project with the highest effective cost in the scope and month"),
    _money("top_project_cost", "Effective cost of top_project"),
    Column("projects_with_spend", Integer, comment="Projects with a non-zero effective cost"),
    _loaded_at(),
    comment="KPI cards per month, for the organisation and per team, from fct_costs_monthly.",
)

PARTITIONED_TABLES = (
    stg_billing, quarantine_billing_rows, excluded_billing_rows, int_costs_converted, int_costs_allocated, fct_costs_daily, fct_costs_monthly,
)

for _t in PARTITIONED_TABLES:
    Index(f"ix_{_t.name}_billing_month", _t.c.billing_month)

# The read API's most common query, GET /costs?group_by=month,project over a range of months (also
# /heatmap and the KPIs of a scoped token), sums one amount per (billing_month, project). On SQLite
# this covering index lets it read the index alone, already in the API's order (keys ascending;
# SQLite sorts nulls first): no table lookups, no temporary B-tree for the GROUP BY. Measured on 24
# months from 10M billing rows (10k monthly rows): 36 -> 5 ms for that query
# (benchmarks/api_benchmark.py, docs/performance.md). The three amounts are the API's `metric`s.
# Not on PostgreSQL: there the planner keeps a sequential scan + hash aggregate for a range that
# covers most of the table, which measured as fast as an index-only scan (8 ms).
Index(
    "ix_fct_costs_monthly_month_project",
    fct_costs_monthly.c.billing_month,
    fct_costs_monthly.c.project,
    fct_costs_monthly.c.effective_cost,
    fct_costs_monthly.c.billed_cost,
    fct_costs_monthly.c.chargeback_cost,
).ddl_if(dialect="sqlite")

stg_budgets = Table(
    "stg_budgets",
    metadata,
    _text("project", "Project the budget is for", nullable=False),
    Column("month", String(7), nullable=False, comment="Budget month, YYYY-MM"),
    _money("amount", "Budget as written, in `currency`"),
    _text("currency", "Currency of `amount` (the reporting currency when the file has none)", nullable=False),
    _money("budget", "Budget in the reporting currency (FX rate of the month, or the latest earlier one)"),
    _loaded_at(),
    comment="Monthly budgets from reference/budgets.csv.",
)

fct_budget_vs_actual = Table(
    "fct_budget_vs_actual",
    metadata,
    _month("Billing month, text YYYY-MM"),
    _text("project", "Project (after allocation rules)", nullable=False),
    _text("team", "Team of the project (dim_projects)"),
    _text("reporting_currency", "Currency of budget, actual, remaining and projection", nullable=False),
    _money("budget", "Budget in the reporting currency; null when the project has spend but no budget"),
    _text("budget_currency", "Currency the budget was set in"),
    _money("budget_original", "Budget as set, in budget_currency"),
    _money("actual", "Effective cost of the month (month to date for the open month)"),
    _money("remaining", "budget - actual"),
    Column("pct_used", Float(precision=53), comment="actual / budget x 100"),
    Column("is_open_month", Boolean, nullable=False, comment="true for the month still being billed"),
    _money("projected_month_end", "Open month: month-to-date + the weekday pattern of the last 4 weeks for the "
           "remaining days; closed months: actual"),
    _text("status", "under, warning (pct_used >= FINOPS_BUDGET_WARNING_PCT), over, projected_over (open month); "
          "null without a budget"),
    _loaded_at(),
    comment="Budget against actual spend per project and month.",
)

fct_cost_forecasts = Table(
    "fct_cost_forecasts",
    metadata,
    _text("level", "total (the whole organisation) or project", nullable=False),
    _text("project", "Project for level = project; null for the total"),
    Column("month", String(7), nullable=False, comment="Forecast month, YYYY-MM (the open month first, when there is one)"),
    _text("reporting_currency", "Currency of the amounts", nullable=False),
    _money("forecast", "Expected effective cost of the month"),
    _money("lower_80", "Lower bound of the 80 % prediction interval"),
    _money("upper_80", "Upper bound of the 80 % prediction interval"),
    _money("lower_95", "Lower bound of the 95 % prediction interval"),
    _money("upper_95", "Upper bound of the 95 % prediction interval"),
    _money("actual_to_date", "Open month only: effective cost so far"),
    _text("model", "Model (or combination) chosen for the series by rolling-origin backtest"),
    Column("backtest_smape", Float(precision=53), comment="sMAPE (%) of that model in the backtest; null for short histories"),
    Column("history_months", Integer, comment="Complete months of history the forecast is based on"),
    Column("generated_at", DateTime(timezone=True), nullable=False, comment="When the forecast was computed (UTC)"),
    comment="Monthly cost forecasts for the organisation and each project, FINOPS_FORECAST_HORIZON months ahead.",
)

fct_cost_anomalies = Table(
    "fct_cost_anomalies",
    metadata,
    _text("anomaly_id", "Stable id: the same grain, period, project and service always get the same id", nullable=False),
    _text("grain", "daily or monthly", nullable=False),
    Column("period_start", Date, nullable=False, comment="Day (daily) or first day of the month (monthly)"),
    _text("project", "Project", nullable=False),
    _text("team", "Team of the project"),
    _text("service_name", "Service; null when the anomaly is on the whole project"),
    _text("reporting_currency", "Currency of the amounts", nullable=False),
    _money("actual_cost", "Effective cost of the period"),
    _money("expected_cost", "What the baseline expected"),
    _money("impact", "actual_cost - expected_cost"),
    Column("impact_pct", Float(precision=53), comment="impact / expected_cost x 100"),
    Column("score", Float(precision=53), comment="Combined anomaly score, 0..1"),
    _text("severity", "low, medium, high or critical"),
    _text("methods", "Detection methods that fired, comma-separated"),
    _text("root_cause", "Top contributing services / accounts / regions with their share of the impact (JSON)"),
    _text("status", "open, acknowledged (set by a user, kept across runs) or resolved (cost back to normal)",
          nullable=False),
    _text("status_note", "Note given when acknowledging (e.g. expected, planned)"),
    Column("first_seen", DateTime(timezone=True), nullable=False, comment="First pipeline run that reported it"),
    Column("last_seen", DateTime(timezone=True), nullable=False, comment="Latest pipeline run that reported it"),
    comment="Cost anomalies: daily per project and per project x service, monthly per project.",
)

anomaly_feedback = Table(
    "anomaly_feedback",
    metadata,
    _text("anomaly_id", "Anomaly the feedback is about", nullable=False),
    _text("status", "Status set by the user: acknowledged", nullable=False),
    _text("note", "expected, planned or free text"),
    _text("updated_by", "Who set it (API token name or CLI user)"),
    Column("updated_at", DateTime(timezone=True), nullable=False, comment="When it was set (UTC)"),
    comment="User decisions on anomalies; never rewritten by the pipeline, so they survive every re-run.",
)

fct_cost_drivers = Table(
    "fct_cost_drivers",
    metadata,
    _month("Billing month compared with the month before, YYYY-MM"),
    _text("dimension", "project, service_name, sub_account_id, region, provider or a finance dimension "
          "(cost_center, ..., merchant_category)", nullable=False),
    _text("member", "Value of the dimension ('(none)' when null)", nullable=False),
    _text("reporting_currency", "Currency of the amounts", nullable=False),
    _money("previous_cost", "Effective cost in the previous month"),
    _money("current_cost", "Effective cost in this month (month to date for the open month)"),
    _money("change", "current_cost - previous_cost; members' changes sum to the month's total change"),
    Column("share_of_change", Float(precision=53), comment="change / total change of the month; null when that is ~0"),
    Column("rank", Integer, nullable=False, comment="1 = the largest change (by absolute value) in the month and dimension"),
    _loaded_at(),
    comment="Month-over-month cost change decomposed by dimension (waterfall-ready).",
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    _text("alert_id", "Stable id of the alert (a hash of dedup_key)", nullable=False),
    _text("kind", "anomaly, budget, run_failure or digest", nullable=False),
    _text("dedup_key", "What makes the alert unique, e.g. anomaly:<id>:<severity>, budget:<project>:<month>:<status>; "
          "an alert is written once per key", nullable=False),
    _text("thread_key", "Alerts with the same thread key are posted in one Slack thread (follow-ups of an anomaly)"),
    _text("payload", "The alert's facts as JSON (what the Slack message is rendered from)", nullable=False),
    _text("status", "pending, sending (claimed by a deliverer), sent, failed (retried on the next tick) or skipped "
          "(no Slack configured)", nullable=False),
    Column("attempts", Integer, nullable=False, comment="Delivery attempts so far (each with its own retries on 429/5xx)"),
    _text("last_error", "Why the last attempt failed, or why the alert was skipped"),
    Column("created_at", DateTime(timezone=True), nullable=False, comment="When the alert was written (UTC)"),
    Column("claimed_at", DateTime(timezone=True), comment="When a deliverer last claimed it (a stale claim is retried)"),
    Column("sent_at", DateTime(timezone=True), comment="When Slack accepted it (UTC)"),
    _text("slack_ts", "Slack message ts (bot token mode): the thread follow-ups are posted in"),
    comment="Alerts are written here first and delivered to Slack second: a crash in between loses nothing and "
    "sends nothing twice.",
)
Index("ux_alert_outbox_dedup_key", alert_outbox.c.dedup_key, unique=True)
Index("ix_alert_outbox_status", alert_outbox.c.status)

api_tokens = Table(
    "api_tokens",
    metadata,
    _text("token_id", "Public id of the token (the part before the dot; safe to show)", nullable=False),
    _text("name", "Who or what the token is for", nullable=False),
    _text("role", "viewer (read), analyst (read + acknowledge anomalies) or admin (everything)", nullable=False),
    _text("scopes", "JSON: {\"projects\": [...], \"teams\": [...]}; empty = every project (admin tokens are never scoped)"),
    _text("token_hash", "SHA-256 of the secret part; the token itself is shown once and never stored", nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, comment="When the token was created (UTC)"),
    Column("last_used_at", DateTime(timezone=True), comment="Last authenticated request (UTC)"),
    Column("revoked_at", DateTime(timezone=True), comment="When it was revoked; a revoked token is refused"),
    comment="Read API bearer tokens (finops api-token create | list | revoke).",
)
Index("ux_api_tokens_token_id", api_tokens.c.token_id, unique=True)
