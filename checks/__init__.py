"""Built-in checks, installed as ``autoglm_doctor.checks`` (one module per area)."""
