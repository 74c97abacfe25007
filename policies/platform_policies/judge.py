"""The pack run the way the Pulumi engine's analyzer runs it, outside a preview: over objects a
real preview recorded, or over objects a chart render produced. Each resource's properties are
wrapped in the SDK's unknown-checking proxy; a policy that reads an unknown value is not a
violation but the engine's advisory "can't run during preview" diagnostic; resource policies see
inputs, stack policies see every resource at once (`pulumi_policy`'s `Analyze` and
`AnalyzeStack`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pulumi_policy import (
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy


@dataclass(frozen=True)
class Seen:
    """One resource as the engine hands it to a policy."""

    resource_type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    parent: str | None = None


class Finding(NamedTuple):
    policy: str
    message: str
    resource: Seen | None
    """The resource judged; None for a stack policy's finding."""


@dataclass
class Verdict:
    violations: list[Finding] = field(default_factory=list)
    """Every mandatory violation."""
    unknown: list[tuple[str, str]] = field(default_factory=list)
    """(policy, where) for every check a preview could not run (judged at `up`)."""


def _as_seen(seen: Seen) -> tuple[str, Any, str, str, PolicyResourceOptions]:
    """(type, props, urn, name, options) as the analyzer builds them: props behind the SDK's
    unknown-checking proxy, options naming the parent."""
    options = PolicyResourceOptions(False, [], seen.parent, [], None, [])
    return seen.resource_type, unknown_checking_proxy(dict(seen.props)), seen.urn, seen.name, options


def judge(
    policies: Sequence[ResourceValidationPolicy | StackValidationPolicy],
    settings: Mapping[str, Mapping[str, Any]],
    resources: Iterable[Seen],
    stack: Iterable[Seen] | None = None,
) -> Verdict:
    """Every policy over `resources` (resource policies) and `stack` (stack policies; the same
    resources when not given), with each policy's configuration from `settings`."""
    resources = list(resources)
    stack = resources if stack is None else list(stack)
    verdict = Verdict()
    for policy in policies:
        config = dict(settings.get(policy.name) or {})

        if isinstance(policy, ResourceValidationPolicy):
            for seen in resources:

                def report(
                    message: str, urn: str | None = None, name: str = policy.name, on: Seen = seen
                ) -> None:
                    verdict.violations.append(Finding(name, message, on))

                args = ResourceValidationArgs(*_as_seen(seen), None, config)
                try:
                    policy.validate(args, report)
                except UnknownValueError as error:
                    verdict.unknown.append((policy.name, f"{seen.name}: {error.message}"))
        else:
            state = [PolicyResource(*_as_seen(seen), None, None, [], {}) for seen in stack]

            def report_stack(message: str, urn: str | None = None, name: str = policy.name) -> None:
                verdict.violations.append(Finding(name, message, None))

            try:
                policy.validate(StackValidationArgs(state, config), report_stack)
            except UnknownValueError as error:
                verdict.unknown.append((policy.name, error.message))
    return verdict
