"""Where the official JSON schemas are: ../shared/schemas beside the repository (as in CI), or $MENTORBOT_SCHEMAS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def schema_path(name: str) -> Path:
    """The schema file; skips the test with the reason when it is absent, and fails under CI=true."""
    folders = [Path(os.environ["MENTORBOT_SCHEMAS"])] if os.environ.get("MENTORBOT_SCHEMAS") else []
    folders.append(ROOT.parent / "shared" / "schemas")
    for folder in folders:
        if (folder / name).exists():
            return folder / name
    reason = (f"official schema {name} not found in {', '.join(str(f) for f in folders)}: put the shared/schemas "
              "folder beside the repository or set MENTORBOT_SCHEMAS")
    if os.environ.get("CI") == "true":
        pytest.fail(reason)  # CI has the schemas: a missing one is a broken build, not a skip
    pytest.skip(reason)
