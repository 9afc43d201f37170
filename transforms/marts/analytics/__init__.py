"""Analytics marts over the cost marts: fct_budget_vs_actual, fct_cost_forecasts,
fct_cost_anomalies and fct_cost_drivers. Their input is what the cost marts hold (read by the
assets); imports marts, intermediate, staging and the shared modules."""
