"""Staging layer: one model per source; rename, cast, categorise, quarantine. No joins, no
business rules. Imports only the shared modules (months, money, currencies)."""
