"""Analytics over the cost marts: budgets, forecasts, anomalies and cost drivers."""
