"""The warehouse: table contracts, engine setup, and atomic writes."""
