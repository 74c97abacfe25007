"""Kubernetes resource quantities, as validated strings that can also be compared."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator

_CPU = re.compile(r"^(\d+(\.\d+)?)(m?)$")
_BYTES = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def cpu_millicores(value: str) -> int:
    match = _CPU.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a CPU quantity such as 250m or 2")
    number = Decimal(match.group(1))
    return int(number if match.group(3) else number * 1000)


def byte_count(value: str) -> int:
    match = _BYTES.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size in binary units such as 512Mi or 20Gi")
    return int(match.group(1)) * _BINARY[match.group(2)]


def _check_cpu(value: str) -> str:
    if cpu_millicores(value) <= 0:
        raise ValueError("must be more than zero")
    return value


def _check_bytes(value: str) -> str:
    if byte_count(value) <= 0:
        raise ValueError("must be more than zero")
    return value


Cpu = Annotated[str, AfterValidator(_check_cpu)]
"""CPU, in cores (`2`, `0.5`) or millicores (`250m`)."""

Bytes = Annotated[str, AfterValidator(_check_bytes)]
"""Memory or storage, in binary units (`512Mi`, `20Gi`), the only units the platform accepts."""
