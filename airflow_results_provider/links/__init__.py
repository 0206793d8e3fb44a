"""Operator extra links: the "Result" link of ``ResultMixin`` tasks."""
