"""Staging layer: one model per source; rename, cast, categorise. No joins, no business rules."""
