"""The test harness: the program run offline under mocks (natplat.review.offline), once per stack file,
and the helpers tests use to read what it registered."""

from __future__ import annotations

import sys
from pathlib import Path

PROGRAM_DIR = Path(__file__).resolve().parents[1] / "infra"
if str(PROGRAM_DIR) not in sys.path:
    sys.path.insert(0, str(PROGRAM_DIR))  # as Pulumi does for the program folder

from natplat.review.offline import (  # noqa: E402
    IMAGE_DIGEST,
    MAIN,
    PLACEHOLDER,
    PROJECT,
    RANDOM_RESULT,
    ROOT,
    STACK_DIR,
    STACK_FILES,
    STACKS,
    ProgramRun,
    Recorded,
    RecordingMocks,
    contains_secret_text,
    fake_key_pair,
    is_wrapped_secret,
    mock_config,
    run_program,
    secret_at,
    unwrap,
)

__all__ = [
    "IMAGE_DIGEST",
    "MAIN",
    "PLACEHOLDER",
    "PROGRAM_DIR",
    "PROJECT",
    "RANDOM_RESULT",
    "ROOT",
    "STACKS",
    "STACK_DIR",
    "STACK_FILES",
    "ProgramRun",
    "Recorded",
    "RecordingMocks",
    "contains_secret_text",
    "fake_key_pair",
    "is_wrapped_secret",
    "mock_config",
    "run_program",
    "secret_at",
    "unwrap",
]
