"""The services layer: every listed service as the same hardened workload,
autoscaled and protected per profile, reachable only as declared, with its image per site."""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any

import pytest

from conftest import stack_run
from harness import IMAGE_DIGEST, ROOT, ProgramRun, fake_key_pair
from natplat.blocks.images import SERVICES_DIR, source_digest
from natplat.layers.services.microservice import HTTP_PORT
from natplat.layers.signing import key_id
from natplat.spec.catalog import NODE_BASE_IMAGE
from natplat.spec.stackfile import load_stack_file


def site_of(run: ProgramRun):
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")


def names(run: ProgramRun) -> list[str]:
    return [s.name for s in site_of(run).services]


def objects(run: ProgramRun, kind: str) -> dict[str, dict[str, Any]]:
    return {
        r.metadata["name"]: r.inputs
        for r in run.kubernetes(kind)
        if r.metadata.get("namespace") == "platform-services"
    }


def pod(run: ProgramRun, name: str) -> dict[str, Any]:
    return objects(run, "Deployment")[name]["spec"]["template"]["spec"]


def test_every_service_gets_the_whole_workload(run: ProgramRun) -> None:
    for name in names(run):
        for kind in ("Deployment", "Service", "ServiceAccount", "NetworkPolicy", "ServiceMonitor"):
            assert name in objects(run, kind), f"{name}: no {kind}"
        service = objects(run, "Service")[name]["spec"]
        assert service["type"] == "ClusterIP"
        assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
        monitor = objects(run, "ServiceMonitor")[name]["spec"]
        assert monitor["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
        assert objects(run, "ServiceAccount")[name]["automountServiceAccountToken"] is False


def test_containers_are_hardened_and_sized_by_the_profile(run: ProgramRun) -> None:
    sizing = site_of(run).sizing.services
    for name in names(run):
        spec = pod(run, name)
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["priorityClassName"] == "national-platform-services"
        (container,) = spec["containers"]
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 1000
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["resources"] == {
            "requests": {"cpu": sizing.resources.cpu, "memory": sizing.resources.memory},
            "limits": {"memory": sizing.resources.memory_limit},
        }
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        # No pre-stop pause: the service itself keeps serving for DRAIN_DELAY_MS after SIGTERM,
        # each response closing its kept-alive connection (services/lib/kit/test/restart.test.js).
        assert "lifecycle" not in container
        keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
        assert "kubernetes.io/hostname" in keys
        # The drain delay and the drain time (SHUTDOWN_TIMEOUT_MS) fit in the grace period.
        env = {e["name"]: e["value"] for e in container["env"]}
        assert int(env["DRAIN_DELAY_MS"]) >= 5000
        drain = (int(env["DRAIN_DELAY_MS"]) + int(env["SHUTDOWN_TIMEOUT_MS"])) / 1000
        assert drain < spec["terminationGracePeriodSeconds"]


@pytest.mark.parametrize(
    ("stack", "autoscaled", "budget"),
    [
        ("local", False, False),
        ("coast", True, False),
        ("north", True, True),
        ("staging", True, True),
        ("capital", True, True),
    ],
)
def test_autoscaler_everywhere_but_local_and_disruption_budget_on_medium_and_large(
    stack: str, autoscaled: bool, budget: bool
) -> None:
    run = stack_run(stack)
    sizing = site_of(run).sizing.services
    autoscalers = objects(run, "HorizontalPodAutoscaler")
    budgets = objects(run, "PodDisruptionBudget")
    for name in names(run):
        replicas = objects(run, "Deployment")[name]["spec"].get("replicas")
        assert (name in autoscalers) is autoscaled
        assert (name in budgets) is budget
        if autoscaled:
            hpa = autoscalers[name]["spec"]
            assert (hpa["minReplicas"], hpa["maxReplicas"]) == (sizing.replicas, sizing.max_replicas)
            assert replicas is None, "the autoscaler owns the replica count"
        else:
            assert replicas == sizing.replicas
        if budget:
            assert budgets[name]["spec"]["maxUnavailable"] == 1


def test_network_policy_admits_the_gateway_and_declared_callers_only(run: ProgramRun) -> None:
    site = site_of(run)
    callers = {s.name: s.callers for s in site.services}
    for name in names(run):
        spec = objects(run, "NetworkPolicy")[name]["spec"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == name
        assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
        first = spec["ingress"][0]
        assert [p["port"] for p in first["ports"]] == [HTTP_PORT]
        gateway, *others = first["from"]
        assert gateway["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "platform-gateway"
        }
        assert gateway["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "kong"
        assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in others] == list(
            callers.get(name, ())
        )
        for rule in spec["ingress"][1:]:
            assert [
                p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in rule["from"]
            ] == ["platform-monitoring"]


def test_egress_only_to_the_cache_master_and_declared_dependencies(run: ProgramRun) -> None:
    host, port = run.outputs["cacheEndpoint"].rsplit(":", 1)
    for service in site_of(run).services:
        egress = objects(run, "NetworkPolicy")[service.name]["spec"]["egress"]
        cache_rules = [r for r in egress if any("namespaceSelector" in p for p in r["to"])]
        if service.cache:
            (rule,) = cache_rules
            (peer,) = rule["to"]
            assert peer["namespaceSelector"]["matchLabels"] == {
                "kubernetes.io/metadata.name": "platform-cache"
            }
            expected = "redis-ha-haproxy" if "haproxy" in host else "redis-ha"
            assert peer["podSelector"]["matchLabels"]["app"] == expected
            assert [p["port"] for p in rule["ports"]] == [int(port)]
        else:
            assert not cache_rules


def test_cache_clients_get_the_endpoint_and_the_password_file(run: ProgramRun) -> None:
    for service in site_of(run).services:
        spec = pod(run, service.name)
        (container,) = spec["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["JWT_AUDIENCE"] == site_of(run).identity.audience
        assert env["JWT_PUBLIC_KEY_FILES"] == "/etc/national-platform/jwt"  # every key in the folder
        if not service.cache:
            continue
        # Database 1: Kong's rate-limit counters keep database 0 to themselves.
        assert env["REDIS_URL"] == f"redis://{run.outputs['cacheEndpoint']}/1"
        assert env["JWT_MAX_LIFETIME_SECONDS"] == str(site_of(run).identity.token_ttl_seconds + 60)
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["redis-auth"]["secret"]["secretName"] == "redis-auth"
        assert all(e["name"] != "REDIS_PASSWORD" for e in container["env"]), "no password in the environment"
        assert env["REDIS_PASSWORD_FILE"].startswith(
            next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "redis-auth")
        )


def test_no_service_holds_a_private_signing_key(run: ProgramRun) -> None:
    """Keycloak signs; every service only verifies: the public-keys ConfigMap is all they get."""
    private = fake_key_pair("token-signing-primary-rsa")["privateKeyPemPkcs8"]
    for name in names(run):
        spec = pod(run, name)
        assert all("secret" not in v or v["secret"]["secretName"] == "redis-auth" for v in spec["volumes"])
    public_keys = next(r for r in run.kubernetes("ConfigMap") if r.metadata.get("name") == "jwt-public-keys")
    assert private not in json.dumps(public_keys.inputs)
    assert (
        key_id(fake_key_pair("token-signing-primary-rsa")["publicKeyPem"])
        == run.outputs["tokenKeyIds"]["primary"]
        == run.outputs["tokenKeyIds"]["primary"]
    )


def test_air_gapped_site_runs_prebuilt_images_from_its_mirror_by_digest() -> None:
    run = stack_run("north")
    site = site_of(run)
    assert not run.of_type("docker:index/image:Image"), "an air-gapped site cannot build"
    expected = {s.name: s.image_digest for s in site.services}
    for name, digest in expected.items():
        image = pod(run, name)["containers"][0]["image"]
        assert image == f"mirror.north.platform.gov.example/upstream/national-platform/{name}@{digest}"
        assert pod(run, name)["imagePullSecrets"] == [{"name": "registry-pull"}]


@pytest.mark.parametrize("stack", ["staging", "capital", "coast"])
def test_online_sites_build_push_and_pin_by_registry_digest(stack: str) -> None:
    run = stack_run(stack)
    repository = site_of(run).registry.service_repository
    for name in names(run):
        (image,) = [
            r.inputs
            for r in run.of_type("docker:index/image:Image")
            if r.inputs["imageName"].split("/")[-1].startswith(f"{name}:")
        ]
        assert image["imageName"] == f"{repository}/{name}:{source_digest(name)}"
        assert image["skipPush"] is False
        assert image["build"]["context"] == str(SERVICES_DIR)
        assert image["build"]["dockerfile"] == str(SERVICES_DIR / name / "Dockerfile")
        assert pod(run, name)["containers"][0]["image"] == f"{repository}/{name}@{IMAGE_DIGEST}"


def test_local_stack_builds_and_loads_images_into_kind() -> None:
    run = stack_run("local")
    for name in names(run):
        (image,) = [
            r.inputs for r in run.of_type("docker:index/image:Image") if f"/{name}:" in r.inputs["imageName"]
        ]
        assert image["skipPush"] is True
        load = run.named(f"{name}-image-kind-load").inputs
        assert load["create"] == f"kind load docker-image {image['imageName']} --name national-platform-local"
        container = pod(run, name)["containers"][0]
        assert container["image"] == image["imageName"] and container["imagePullPolicy"] == "IfNotPresent"


def test_source_digest_changes_with_the_sources_and_ignores_tests(tmp_path) -> None:
    for name in ("package.json", "package-lock.json", ".npmrc", ".dockerignore"):
        (tmp_path / name).write_text(name)
    for folder in ("lib/kit/src", "svc/src", "svc/test"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "lib/kit/src/index.js").write_text("kit")
    (tmp_path / "svc/src/server.js").write_text("v1")
    first = source_digest("svc", tmp_path)
    (tmp_path / "svc/test/a.test.js").write_text("tests do not go into the image")
    assert source_digest("svc", tmp_path) == first
    (tmp_path / "svc/src/server.js").write_text("v2")
    assert source_digest("svc", tmp_path) != first
    (tmp_path / "svc/src/server.js").write_text("v1")
    (tmp_path / "lib/kit/src/index.js").write_text("kit changed")
    assert source_digest("svc", tmp_path) != first


def test_dockerfiles_use_the_catalog_base_image_and_run_as_non_root() -> None:
    for dockerfile in sorted(SERVICES_DIR.glob("*/Dockerfile")):
        text = dockerfile.read_text()
        bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
        assert bases and set(bases) == {
            f"{NODE_BASE_IMAGE.repository.removeprefix('library/')}:{NODE_BASE_IMAGE.tag}@{NODE_BASE_IMAGE.digest}"
        }
        assert NODE_BASE_IMAGE.tag.startswith("24.") and NODE_BASE_IMAGE.digest
        # Only node in the runtime stage: npm, npx and corepack are removed.
        runtime = text.split("\nFROM ")[-1]
        for tool in ("/usr/local/bin/npm", "/usr/local/bin/npx", "/usr/local/bin/corepack"):
            assert tool in runtime.split("RUN rm -rf", 1)[1].split("\nWORKDIR", 1)[0]
        assert re.search(r"^USER 1000:1000$", text, flags=re.MULTILINE)
        assert "npm ci --omit=dev" in text
        assert re.search(r'^ENTRYPOINT \["node", ', text, flags=re.MULTILINE)


def test_hadolint_passes_and_would_catch_a_floating_base_image(tmp_path) -> None:
    hadolint = ROOT / ".venv/bin/hadolint"
    for dockerfile in sorted(SERVICES_DIR.glob("*/Dockerfile")):
        result = subprocess.run(
            [hadolint, "--failure-threshold", "warning", dockerfile],
            check=False,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM node:latest\nRUN npm install\nCMD node server.js\n")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", bad], check=False, capture_output=True, text=True
    )
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_python_and_node_derive_the_same_key_id() -> None:
    """Kong's credential is registered under the Python-side kid (Keycloak's way of naming an
    imported key); the APIs' token guard derives the node-side kid: they must agree."""
    pem = fake_key_pair("kid-agreement")["publicKeyPem"]
    script = (
        "import('@natplat/service-kit').then(async ({ keyId }) => {"
        "const { createPublicKey } = await import('node:crypto');"
        "process.stdout.write(keyId(createPublicKey(process.env.PEM))); })"
    )
    node = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PEM": pem},
        cwd=SERVICES_DIR / "offices",
        check=True,
    )
    assert node.stdout == key_id(pem)
