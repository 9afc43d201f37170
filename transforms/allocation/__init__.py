"""Allocation of costs to projects by the business rules of reference/rules.yaml."""
