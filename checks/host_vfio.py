"""Placeholder: filled in by its check family."""

CHECKS: tuple = ()
