"""pytest fixtures: the program run once per stack file (cached for the session)."""

from __future__ import annotations

import pytest

from harness import STACK_FILES, STACKS, ProgramRun, run_program

_RUNS: dict[str, ProgramRun] = {}


def stack_run(stack: str) -> ProgramRun:
    """The recorded run of `stack`, made on first use. A failed run fails every test using it."""
    if stack not in _RUNS:
        _RUNS[stack] = run_program(STACK_FILES[STACKS.index(stack)])
    run = _RUNS[stack]
    if run.error is not None:
        raise AssertionError(f"the program failed for stack {stack}: {run.error}") from run.error
    return run


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    """Parametrizes a test over every stack file in stacks/."""
    return stack_run(request.param)
