"""The native log scanner is optional: without a C compiler and Python's headers the install goes on
and the logs summary uses the Python parser (the same answers, slower)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("autoglm_doctor.logscan._native", ["autoglm_doctor/logscan/_native.c"],
                             extra_compile_args=["-O2", "-std=gnu11"], optional=True)])
