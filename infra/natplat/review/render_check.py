"""The platform's invariants, checked on what really deploys: the objects the pinned charts render
with the program's values (`make render-charts`) together with the program's own objects.

Mocks show each chart as one opaque resource, and a chart's behaviour lives in its templates
(`lookup`, `.Capabilities`, tag suffixes, RBAC defaults). Rendering found a tag suffix the mirror
list missed, an IngressClass that flips between runs, a Grafana ClusterRole on every Secret and a
NodePort GUI; these rules catch that class of fault:

- every image a pod runs is one the site's mirror list names (on an air-gapped site, every image
  starts with the site's mirror): containers' images, the image fields of operators' resources
  (Keycloak's `image`, CloudNativePG's `imageName`, ECK's and prometheus-operator's `image`), and
  the images operators are given by environment or flag (`OPERATOR_IMAGE_ENV`, `OPERATOR_IMAGE_FLAGS`);
- no Service of type NodePort or LoadBalancer but the gateway's proxy;
- no Role or ClusterRole grants read on Secrets, except the operators' own (listed with reasons);
- every ServiceMonitor selects at least one Service, on a port that Service has;
- every container, init containers included, requests CPU and memory;
- every custom resource is valid against the schema of the CRD the pinned charts render for it,
  unknown fields refused (a misspelt field of an operator's resource is otherwise dropped by the
  API server, silently, and the feature it meant never runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
IMAGE_CUSTOM_KINDS = {
    "Prometheus": "image",
    "Alertmanager": "image",
    "Elasticsearch": "image",
    "Kibana": "image",
    "Logstash": "image",
    "Beat": "image",
    "Keycloak": "image",
    "Cluster": "imageName",  # CloudNativePG's PostgreSQL
}
"""Custom resources and the `spec` field naming the image their operator's pods pull."""

OPERATOR_IMAGE_ENV: dict[str, str] = {
    "RELATED_IMAGE_KEYCLOAK": "the Keycloak Operator runs it for a Keycloak that names no image",
    "OPERATOR_IMAGE_NAME": (
        "CloudNativePG copies its own image into every PostgreSQL instance (the bootstrap controller)"
    ),
    "SIDECAR_IMAGE": "the Barman Cloud plugin injects it into every PostgreSQL instance that archives",
}
"""Operators' environment variables naming an image their operator makes pods pull (a value, or a
ConfigMap key: plugin-barman-cloud 0.7.0 reads SIDECAR_IMAGE from its ConfigMap)."""

OPERATOR_IMAGE_FLAGS: dict[str, str] = {
    "--acme-http01-solver-image": "cert-manager's controller starts an ACME HTTP-01 solver pod from it",
    "--prometheus-config-reloader": "prometheus-operator injects it into every Prometheus and Alertmanager",
}
"""Operators' flags naming an image their pods pull. (prometheus-operator's
`--*-default-base-image` flags are used only for a resource that names no image; ours all do.)"""


def _acme_issuer(objects: Iterable[Mapping[str, Any]]) -> bool:
    return any(
        o.get("kind") in ("Issuer", "ClusterIssuer") and "acme" in (o.get("spec") or {}) for o in objects
    )


PULLED_ONLY_IF: dict[str, Callable[[Iterable[Mapping[str, Any]]], bool]] = {
    # cert-manager v1.21.1's chart always passes the flag; the controller starts a solver pod only
    # for an ACME challenge, so a site whose issuer is its CA (north) never pulls it, and its
    # mirror list rightly leaves it out.
    "--acme-http01-solver-image": _acme_issuer,
}
"""Images named by a flag that are pulled only when another object asks for them."""

SECRET_READERS: dict[tuple[str, str], str] = {
    (
        "ClusterRole",
        "elastic-operator",
    ): "the ECK operator writes and reads the stack's users, certificates and keystores",
    (
        "ClusterRole",
        "monitoring-operator",
    ): "prometheus-operator reads the Secrets monitors and Alertmanager reference",
    ("ClusterRole", "kong-kong"): "Kong's ingress controller reads TLS certificates and consumer credentials",
    ("Role", "kong-kong"): "Kong's ingress controller, in its own namespace (leader election, its Secrets)",
    ("Role", "cnpg-cloudnative-pg"): (
        "CloudNativePG, in the databases namespace only (config.clusterWide: false): it creates and "
        "reads the clusters' credentials and certificates"
    ),
    **{
        ("ClusterRole", f"cert-manager-controller-{part}"): (
            f"cert-manager's {part} controller: it reads and writes the Secrets of the certificates it "
            "issues (in each host's namespace) and of its issuers (site CA, ACME account, DNS keys)"
        )
        for part in ("issuers", "clusterissuers", "certificates", "orders", "challenges")
    },
    ("ClusterRole", "cert-manager-cainjector"): (
        "cert-manager's CA injector reads certificate Secrets to put their CA into webhook "
        "configurations (cert-manager's own)"
    ),
    ("Role", "cert-manager-webhook:dynamic-serving"): (
        "cert-manager's webhook, its own serving certificate, in its own namespace only"
    ),
    ("Role", "keycloak-operator-role"): (
        "the Keycloak Operator, in the identity namespace only: it writes the Keycloak's own Secrets "
        "(the initial admin's, its services') and reads those the Keycloak resource names (database, "
        "trust stores)"
    ),
    **{
        ("ClusterRole", name): (
            f"the Keycloak Operator's {what} controller: a ClusterRole its manifest binds by RoleBinding "
            "in the identity namespace only"
        )
        for name, what in (
            ("keycloakcontroller-cluster-role", "Keycloak"),
            ("keycloakrealmimportcontroller-cluster-role", "realm import"),
        )
    },
    ("Role", "plugin-barman-cloud-secrets"): (
        "the Barman Cloud plugin, in the databases namespace only and on the object store's "
        "credentials Secret only (resourceNames): the Role it writes for each database grants that"
    ),
}
"""The operators whose job is to read Secrets, by (kind, name) as the charts name them."""

READ_VERBS = {"get", "list", "watch", "*"}

CLUSTER_SERVICES: tuple[dict[str, Any], ...] = (
    {
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {"ports": [{"name": "https", "port": 443}]},
    },
    {
        "kind": "Service",
        "metadata": {
            "name": "monitoring-kubelet",
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet"},
        },
        "spec": {
            "ports": [
                {"name": n, "port": p}
                for n, p in (("https-metrics", 10250), ("http-metrics", 10255), ("cadvisor", 4194))
            ]
        },
    },
)
"""Services every cluster has that no chart renders: the API server's own, and the kubelet Service
prometheus-operator maintains (kube-prometheus-stack 88.5.3 passes
--kubelet-service=kube-system/<release>-kubelet). Their ServiceMonitors select them."""


@dataclass(frozen=True)
class SiteFacts:
    site: str
    gateway_namespace: str
    gateway_proxy_service: str
    allowed_images: frozenset[str]
    """Every image reference the site's mirror list names (as pods pull them)."""
    image_mirror: str | None = None
    secret_readers: Mapping[tuple[str, str], str] = field(default_factory=lambda: dict(SECRET_READERS))


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{meta.get('name')}"


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    if kind in WORKLOAD_KINDS:
        return (spec.get("template") or {}).get("spec")
    return None


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def _config_value(objects: Iterable[Mapping[str, Any]], namespace: str | None, ref: Mapping[str, Any]) -> Any:
    for obj in objects:
        meta = obj.get("metadata") or {}
        if (
            obj.get("kind") == "ConfigMap"
            and meta.get("name") == ref.get("name")
            and meta.get("namespace") in (None, namespace)
        ):
            return (obj.get("data") or {}).get(ref.get("key"))
    return None


def _images(obj: Mapping[str, Any], objects: list[Mapping[str, Any]]) -> Iterator[str]:
    """Every image the object makes a pod pull: its containers', the image fields of operators'
    resources, and the images operators are told of by environment or flag."""
    spec = pod_spec(obj)
    if spec is not None:
        namespace = (obj.get("metadata") or {}).get("namespace")
        for container in containers(spec):
            if container.get("image"):
                yield container["image"]
            for env in container.get("env") or []:
                if env.get("name") not in OPERATOR_IMAGE_ENV:
                    continue
                ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
                value = env.get("value") if ref is None else _config_value(objects, namespace, ref)
                yield str(value) if value else f"(unresolved {env['name']})"
            for arg in [*(container.get("args") or []), *(container.get("command") or [])]:
                flag, _, value = str(arg).partition("=")
                if flag in OPERATOR_IMAGE_FLAGS and PULLED_ONLY_IF.get(flag, lambda _: True)(objects):
                    yield value
    else:
        field_name = IMAGE_CUSTOM_KINDS.get(str(obj.get("kind")))
        if field_name and (obj.get("spec") or {}).get(field_name):
            yield obj["spec"][field_name]


def check_images(objects: Iterable[Mapping[str, Any]], facts: SiteFacts) -> list[str]:
    objects = list(objects)
    problems = []
    for obj in objects:
        for image in _images(obj, objects):
            if facts.image_mirror and not image.startswith(f"{facts.image_mirror}/"):
                problems.append(
                    f"{_name(obj)}: image {image} is not from the site's mirror {facts.image_mirror}"
                )
            elif image not in facts.allowed_images:
                problems.append(f"{_name(obj)}: image {image} is not in the site's mirror list")
    return problems


def check_exposure(objects: Iterable[Mapping[str, Any]], facts: SiteFacts) -> list[str]:
    problems = []
    for obj in objects:
        if obj.get("kind") != "Service":
            continue
        kind = (obj.get("spec") or {}).get("type", "ClusterIP")
        meta = obj.get("metadata") or {}
        proxy = (
            meta.get("name") == facts.gateway_proxy_service
            and meta.get("namespace") == facts.gateway_namespace
        )
        if kind in ("NodePort", "LoadBalancer") and not proxy:
            problems.append(f"{_name(obj)}: type {kind}; only the gateway's proxy may be exposed")
    return problems


def _reads_secrets(rule: Mapping[str, Any]) -> bool:
    groups = set(rule.get("apiGroups") or [])
    resources = set(rule.get("resources") or [])
    verbs = set(rule.get("verbs") or [])
    return bool(groups & {"", "*"}) and bool(resources & {"secrets", "*"}) and bool(verbs & READ_VERBS)


def check_secret_readers(objects: Iterable[Mapping[str, Any]], facts: SiteFacts) -> list[str]:
    problems = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in ("Role", "ClusterRole"):
            continue
        name = (obj.get("metadata") or {}).get("name", "")
        if (kind, name) in facts.secret_readers:
            continue
        if any(_reads_secrets(rule) for rule in obj.get("rules") or []):
            problems.append(f"{_name(obj)}: grants read on Secrets and is not an operator's own role")
    return problems


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    if not selector:
        return True
    wanted = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and labels.get(key) in values)
            or (operator == "Exists" and key not in labels)
            or (operator == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def check_service_monitors(objects: Iterable[Mapping[str, Any]], facts: SiteFacts) -> list[str]:
    objects = list(objects)
    services = [o for o in objects if o.get("kind") == "Service"] + list(CLUSTER_SERVICES)
    problems = []
    for monitor in (o for o in objects if o.get("kind") == "ServiceMonitor"):
        spec = monitor.get("spec") or {}
        home = (monitor.get("metadata") or {}).get("namespace")
        scope = spec.get("namespaceSelector") or {}
        namespaces = None if scope.get("any") else set(scope.get("matchNames") or [home])
        ports = {e.get("port") for e in spec.get("endpoints") or [] if e.get("port")}
        matched = [
            s
            for s in services
            if (namespaces is None or (s.get("metadata") or {}).get("namespace") in namespaces)
            and _selects(spec.get("selector") or {}, (s.get("metadata") or {}).get("labels") or {})
        ]
        if not matched:
            problems.append(f"{_name(monitor)}: selects no Service")
            continue
        named = {p.get("name") for s in matched for p in (s.get("spec") or {}).get("ports") or []}
        if ports - named:
            problems.append(f"{_name(monitor)}: port(s) {sorted(ports - named)} on no selected Service")
    return problems


def check_requests(objects: Iterable[Mapping[str, Any]], facts: SiteFacts) -> list[str]:
    problems = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        for container in containers(spec):
            requests = (container.get("resources") or {}).get("requests") or {}
            missing = [r for r in ("cpu", "memory") if r not in requests]
            if missing:
                problems.append(
                    f"{_name(obj)}: container {container.get('name')!r} requests no {' or '.join(missing)}"
                )
    return problems


def _schema(node: Any) -> Any:
    """A CRD's OpenAPI schema as a JSON schema that refuses unknown fields: Kubernetes prunes
    them where `x-kubernetes-preserve-unknown-fields` is not set, so there they are refused."""
    if isinstance(node, list):
        return [_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def check_custom_resources(objects: Iterable[Mapping[str, Any]], facts: SiteFacts) -> list[str]:
    import jsonschema  # noqa: PLC0415 - the render job's dependency, not the program's

    objects = list(objects)
    schemas: dict[tuple[str, str], Any] = {}
    for crd in (o for o in objects if o.get("kind") == "CustomResourceDefinition"):
        spec = crd.get("spec") or {}
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                key = (f"{spec.get('group')}/{version.get('name')}", (spec.get("names") or {}).get("kind"))
                schemas[key] = _schema(schema)
    problems = []
    for obj in objects:
        schema = schemas.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
        if schema is None:
            continue
        # Every object's root carries these, whatever its CRD's schema lists (the Keycloak
        # Operator's CRDs list neither apiVersion nor kind).
        root = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
        schema = {**schema, "properties": {**schema.get("properties", {}), **root}}
        for error in sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path)):
            where = ".".join(str(part) for part in error.absolute_path) or "(object)"
            problems.append(f"{_name(obj)}: {where}: {error.message[:200]}")
    return problems


CHECKS = (
    check_images,
    check_exposure,
    check_secret_readers,
    check_service_monitors,
    check_requests,
    check_custom_resources,
)


def check(objects: Iterable[Mapping[str, Any]], facts: SiteFacts) -> list[str]:
    """Every rule over every object: one line per problem, naming the object."""
    objects = [o for o in objects if isinstance(o, Mapping) and o.get("kind")]
    return [problem for rule in CHECKS for problem in rule(objects, facts)]
