"""The base of every settings model and the value types several sections share."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")]
"""A lower-case DNS label of at most 32 characters: site, region, service and client names."""

Scope = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")]


def _check_origin(value: str) -> str:
    if value.startswith("https://") or value.startswith("http://localhost"):
        rest = value.split("://", 1)[1]
        if rest and "/" not in rest:
            return value
    raise ValueError("must be an origin such as https://portal.example.gov (no path)")


Origin = Annotated[str, AfterValidator(_check_origin)]


def problem(at: str, message: str) -> PydanticCustomError:
    """A validation problem located at `at`, a dotted path below the model that raises it."""
    return PydanticCustomError("site_rule", message, {"at": at})


class Settings(BaseModel):
    """Base of every settings model: frozen, camelCase keys, strict types, no unknown keys."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        populate_by_name=False,
    )
