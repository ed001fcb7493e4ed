"""Facts: parsed, effective views of a Target, computed once per run through ``Context.fact``."""
