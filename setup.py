"""The native log scanner (C, autoglm_doctor/logscan/native/) is optional: without a C compiler and
Python's headers the install goes on and the logs summary uses the Python parser (the same answers,
slower)."""

from glob import glob

from setuptools import Extension, setup

setup(ext_modules=[Extension("autoglm_doctor.logscan._native", sorted(glob("autoglm_doctor/logscan/native/*.c")),
                             depends=["autoglm_doctor/logscan/native/native.h"],
                             extra_compile_args=["-O2", "-std=gnu11", "-fvisibility=hidden"], optional=True)])
