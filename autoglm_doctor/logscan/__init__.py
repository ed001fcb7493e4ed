"""Trace-id log correlation: sources, extraction, correlation, the trace/logs commands."""
