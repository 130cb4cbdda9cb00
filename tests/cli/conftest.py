from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import Operator, fresh_database


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    """A shell with its own data dir and an empty database of the suite's kind."""
    with fresh_database() as url:
        yield Operator(data_dir=tmp_path / "var", database_url=url)
