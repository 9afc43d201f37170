"""Reading landing and reference files: the only code that knows about the data directory."""
