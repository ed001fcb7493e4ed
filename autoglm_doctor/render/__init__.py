"""Renderers: pure functions of a Report to text."""

from __future__ import annotations

from typing import Callable

FORMATS = ("console", "json", "junit", "prometheus")


def renderer(fmt: str) -> Callable[..., str]:
    if fmt == "json":
        from autoglm_doctor.render.json_report import render_json

        return render_json
    if fmt == "junit":
        from autoglm_doctor.render.junit import render_junit

        return render_junit
    if fmt == "prometheus":
        from autoglm_doctor.render.prometheus import render_prometheus

        return render_prometheus
    if fmt == "console":
        from autoglm_doctor.render.console import render_console

        return render_console
    raise ValueError(f"unknown format {fmt!r}")
