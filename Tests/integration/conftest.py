import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Plugin, file_config  # noqa: E402


@pytest.fixture
def plugin(tmp_path):
    p = Plugin(workdir=tmp_path).start()
    yield p
    p.stop()


@pytest.fixture
def store(tmp_path):
    """A file-store root and its configuration text."""
    root = tmp_path / "store"
    root.mkdir()
    return root, file_config(root)
