"""Marts: wide, entity-grained tables that users and BI tools query (fct_*, dim_*): the cost marts,
chargeback and KPIs here, and ``analytics/`` (budgets, forecasts, anomalies, drivers), marts built
over the cost marts. Imports intermediate, staging and the shared modules."""
