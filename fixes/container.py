"""Placeholder: filled in by its check family."""

FIXES: tuple = ()
