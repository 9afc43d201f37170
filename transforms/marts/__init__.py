"""Marts: wide, entity-grained tables that users and BI tools query (fct_*, dim_*)."""
