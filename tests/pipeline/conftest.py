"""The pipeline test's world, staged once per module (see tests/pipeline/world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pipeline.world import World, stage
from tests.postgres import Postgres


@pytest.fixture(scope="module")
def world(postgres_server: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with stage(tmp_path_factory.mktemp("pipeline"), postgres_server) as staged:
        yield staged
