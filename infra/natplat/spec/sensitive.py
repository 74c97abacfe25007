"""Values that were `secure:` in a stack file, and must stay secret all the way to Kubernetes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema


class SecretValue:
    """A secret setting. It never prints its value; it becomes a Pulumi secret Output on use.

    Offline validation (`make validate`) has only the ciphertext, so the plaintext is None there:
    the value can be checked for presence and form, never used.
    """

    __slots__ = ("_plaintext",)

    def __init__(self, plaintext: str | None) -> None:
        self._plaintext = plaintext

    @property
    def decrypted(self) -> bool:
        return self._plaintext is not None

    def check(self, rule: Callable[[str], str | None]) -> str | None:
        """Run a form check on the plaintext (None offline, where there is none): the rule returns
        a problem that must not quote the value, or None. The value itself never leaves."""
        return None if self._plaintext is None else rule(self._plaintext)

    def output(self) -> pulumi.Output[str]:
        """The value as a secret Output: Pulumi encrypts it in state and masks it in previews."""
        if self._plaintext is None:
            raise RuntimeError("this secret was read offline and was never decrypted")
        return pulumi.Output.secret(self._plaintext)

    def __repr__(self) -> str:
        return "SecretValue(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._plaintext == self._plaintext

    def __hash__(self) -> int:
        return hash(self._plaintext)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(cls._validate)

    @classmethod
    def _validate(cls, value: Any) -> SecretValue:
        if isinstance(value, SecretValue):
            return value
        raise PydanticCustomError(
            "plaintext_secret",
            "must be a secret, but is written in plain text: remove it from the file and set it "
            "with `pulumi config set --secret --path '<this key>'`",
        )
