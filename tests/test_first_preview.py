"""A site's first preview shows every object its first `up` creates. The program runs under mocks
as a first `pulumi preview` runs it: a dry run in which everything a provider computes on creation
(generated passwords and keys, certificates, the pushed image's digest, the kind cluster's
kubeconfig) is unknown. A chart or manifest file given an unknown input is skipped whole by the
Kubernetes provider ("Preview is incomplete"), so none may have one; where a value made in the same
deployment must reach a chart's object, only that object holds it."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pulumi
import pytest
from pulumi.output import Unknown

from harness import STACK_FILES, STACKS, ProgramRun, run_program
from natplat.layers.gateway.kong import WEBHOOK_CONFIGURATION, WEBHOOK_SERVICE, webhook_ca_transform

COMPONENTS = ("kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigFile")

FIRST_PREVIEW_UNKNOWNS: dict[tuple[str, str], str] = {
    ("kubernetes:core/v1:Secret", "stringData"): "a generated password, key or certificate",
    ("kubernetes:core/v1:ConfigMap", "data"): "the verifiers' public keys, from the generated signing key",
    ("kubernetes:apps/v1:Deployment", "spec"): "a service's image digest, known once the program pushed it",
    ("kubernetes:batch/v1:Job", "metadata"): "the realm applier's name, derived from the realm's key ids",
    ("pulumi:providers:kubernetes", "kubeconfig"): "the local kind cluster's, created by the same `up`",
}
"""Where a first preview may show an unknown, and why: never in a chart's or a manifest's inputs."""

_RUNS: dict[str, ProgramRun] = {}


def first_preview(stack: str) -> ProgramRun:
    if stack not in _RUNS:
        _RUNS[stack] = run_program(STACK_FILES[STACKS.index(stack)], first_preview=True)
    run = _RUNS[stack]
    assert run.error is None, f"a first preview of {stack} failed: {run.error}"
    return run


def unknown_paths(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, Unknown):
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in unknown_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in unknown_paths(item, (*path, i))]
    return []


@pytest.mark.parametrize("stack", STACKS)
def test_no_chart_or_manifest_input_is_unknown_at_a_first_preview(stack: str) -> None:
    run = first_preview(stack)
    charts = [r for r in run.resources if r.type in COMPONENTS]
    assert {r.name for r in charts} >= {"kong", "cnpg"}
    unknown = {r.name: unknown_paths(r.raw_inputs) for r in charts}
    assert {name: paths for name, paths in unknown.items() if paths} == {}


@pytest.mark.parametrize("stack", STACKS)
def test_a_first_preview_is_unknown_only_where_a_value_is_made_by_the_same_deployment(stack: str) -> None:
    run = first_preview(stack)
    kubernetes = [
        r for r in run.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))
    ]
    places = {(r.type, str(path[0])) for r in kubernetes for path in unknown_paths(r.raw_inputs)}
    assert places, "the mocks made nothing unknown: this test would pass on anything"
    assert places <= set(FIRST_PREVIEW_UNKNOWNS), places - set(FIRST_PREVIEW_UNKNOWNS)


def test_the_mocked_first_preview_makes_what_is_generated_unknown() -> None:
    """The control: under the same mocks, the webhook certificate's Secret is unknown."""
    run = first_preview("staging")
    secret = run.named("kong-admission-webhook-tls")
    assert unknown_paths(secret.raw_inputs) == [("stringData", "value")]  # under its secret wrapper


KONG_VWC = {
    # What Kong 3.4.1's admission-webhook.yaml renders with `certificate.provided` and no caBundle.
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "kong-kong-platform-gateway-validations"},
    "webhooks": [
        {
            "name": name,
            "clientConfig": {"service": {"name": WEBHOOK_SERVICE, "namespace": "platform-gateway"}},
        }
        for name in (
            "secrets.credentials.validation.ingress-controller.konghq.com",
            "secrets.plugins.validation.ingress-controller.konghq.com",
            "validations.kong.konghq.com",
        )
    ],
}


def _transformed(type_: str, props: dict[str, Any], pem: str) -> dict[str, Any] | None:
    async def run() -> dict[str, Any] | None:
        transform = webhook_ca_transform(pulumi.Output.from_input(pem))
        result = transform(pulumi.ResourceTransformArgs(True, type_, "x", props, pulumi.ResourceOptions()))
        if result is None:
            return None
        resolved = await pulumi.Output.from_input(result.props).future()
        return resolved

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the loop later tests use
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()


def test_the_webhook_ca_goes_onto_kongs_webhook_configuration_only() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    result = _transformed(WEBHOOK_CONFIGURATION, KONG_VWC, pem)
    assert result is not None
    assert [w["clientConfig"]["caBundle"] for w in result["webhooks"]] == [
        base64.b64encode(pem.encode()).decode()
    ] * 3
    assert "caBundle" not in KONG_VWC["webhooks"][0]["clientConfig"]  # the rendered object is copied
    other = {**KONG_VWC, "webhooks": [{"name": "v", "clientConfig": {"service": {"name": "cnpg-webhook"}}}]}
    assert _transformed(WEBHOOK_CONFIGURATION, other, pem) is None
    assert _transformed("kubernetes:core/v1:Service", {"metadata": {"name": WEBHOOK_SERVICE}}, pem) is None


@pytest.mark.parametrize("stack", ["staging", "north"])
def test_kongs_chart_names_its_webhook_certificate_without_a_ca_bundle(stack: str) -> None:
    (kong,) = [r for r in first_preview(stack).resources if r.name == "kong" and r.type == COMPONENTS[0]]
    certificate = kong.inputs["values"]["ingressController"]["admissionWebhook"]["certificate"]
    assert certificate == {"provided": True, "secretName": "kong-admission-webhook-tls"}
