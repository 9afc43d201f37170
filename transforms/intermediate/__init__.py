"""Intermediate layer: re-grain and isolate business logic (int_<entity>_<verb>): FX conversion
(int_costs_converted) and ``allocation/`` (int_costs_allocated). Reads staging output; imports
staging and the shared modules (months, money, currencies), never marts."""
