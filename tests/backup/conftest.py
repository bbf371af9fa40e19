from __future__ import annotations

from pathlib import Path

import pytest

from jifen.settings import Settings


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The source install keeps its photos in its own data directory, apart from every other test's."""
    settings.data_dir = tmp_path / "source"
    return settings
