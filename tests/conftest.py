import json
import os
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COMPASSMETA_MIRROR") or PROJECT.parent / "shared" / "data")


def load_fixture(name):
    with open(FIXTURES / name) as handle:
        return json.load(handle)


def assert_close(actual, expected, what, rel=1e-6, abs_=1e-8):
    """metafor agreement: 1e-6 relative, or 1e-8 absolute near zero; None means NA."""
    if expected is None:
        assert actual is None or not np.isfinite(actual), f"{what}: metafor gives NA, got {actual}"
        return
    assert actual is not None, f"{what}: got None, metafor gives {expected}"
    assert abs(actual - expected) <= max(abs_, rel * abs(expected)), (
        f"{what}: got {actual!r}, metafor gives {expected!r}")


@pytest.fixture(scope="session")
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the project")
    return SHARED_DATA
