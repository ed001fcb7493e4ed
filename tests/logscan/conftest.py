"""Shared fixtures of the log-scanner tests."""

from __future__ import annotations

import pytest

from bench import corpus


@pytest.fixture(scope="session")
def realistic(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("corpus")
    corpus.generate(str(out), size_mb=1.5, seed=3)
    files = {}
    for svc in corpus.SERVICES:
        for path in sorted((out / svc).iterdir()):
            if not path.name.endswith(".gz"):
                files[f"{svc}/{path.name}"] = path.read_bytes()
    return files
