"""autoglm-doctor: preflight diagnostics and remediation for AutoGLM deployments."""

__version__ = "0.1.0"
