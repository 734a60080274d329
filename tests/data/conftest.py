from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def seed_csv() -> Path:
    path = SHARED_DATA / "seed" / "labeled_data.csv"
    if not path.exists():
        pytest.skip("../shared/data is absent")
    return path
