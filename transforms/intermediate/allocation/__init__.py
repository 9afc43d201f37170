"""Allocation (intermediate layer, int_costs_allocated): the rules of reference/rules.yaml parsed
from text and applied to converted costs. Imports staging and the shared modules only."""
