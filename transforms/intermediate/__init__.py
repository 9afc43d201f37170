"""Intermediate layer: re-grain and isolate business logic (int_<entity>_<verb>)."""
