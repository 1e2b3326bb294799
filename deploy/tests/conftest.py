"""Fixtures of the deploy tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from manifests import (
    KUSTOMIZE,
    Rendered,
    project_dirs,
    render,
)


@pytest.fixture(scope="session")
def all_rendered() -> dict[str, Rendered]:
    return {p.name: render(p) for p in project_dirs()}


@pytest.fixture(params=[p.name for p in project_dirs()])
def rendered(request, all_rendered) -> Rendered:
    return all_rendered[request.param]


@pytest.fixture
def kustomize_copy(tmp_path) -> Path:
    """deploy/kustomize without its projects, for new-project.sh to write into."""
    dst = tmp_path / "kustomize"
    shutil.copytree(KUSTOMIZE / "base", dst / "base")
    (dst / "projects").mkdir()
    return dst


@pytest.fixture(scope="session")
def azurite() -> dict[str, str]:
    env = {k: os.environ.get(k) for k in ("AZURITE_ENDPOINT", "AZURITE_ACCOUNT", "AZURITE_KEY")}
    if not all(env.values()):
        pytest.fail("AZURITE_* not set: run deploy/tests/run.sh", pytrace=False)
    return env
