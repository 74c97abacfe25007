"""The platform's rules as CrossGuard policies. Every policy is mandatory; the exceptions are named
(the log shipper's namespace, the public routes, the gateway's namespace) and come from the pack's
configuration, which `natplat.review.policy_config` derives from each site's stack file, so one pack
serves every site.

Resources are read as the real engine passes them (`REAL_ENGINE` says, per policy, what it reads):
Kubernetes objects with camelCase fields, custom resources by their `kubernetes:<group>/<version>:
<Kind>` type. A component (a `helm.sh/v4:Chart`, a `yaml/v2:ConfigFile`) reaches a policy with no
inputs at all in a real preview (only the mocks carry them); the objects it renders reach every
policy as resources of their own, and those are what the rules judge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

PART_OF = "national-platform"
SITE_LABEL = "national-platform/site"
PUBLIC_ROUTE_ANNOTATION = "national-platform/public-route"

WORKLOADS = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:core/v1:Pod",
}
SCALABLE = {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"}
ECK_RESOURCES = {
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch",
    "kubernetes:kibana.k8s.elastic.co/v1:Kibana",
    "kubernetes:logstash.k8s.elastic.co/v1alpha1:Logstash",
    "kubernetes:beat.k8s.elastic.co/v1beta1:Beat",
}
CHARTS = {"kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Release"}
COMPONENTS = {
    "kubernetes:helm.sh/v4:Chart",
    "kubernetes:yaml/v2:ConfigFile",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:kustomize/v2:Directory",
}
"""The Kubernetes provider's components: resources with no object of their own (no metadata), whose
inputs a real preview does not pass to a policy; their rendered objects are judged instead."""
CHART_LABEL = "helm.sh/chart"
"""`<chart>-<version>`: what Helm's charts put on the objects they render (subcharts their own)."""
SECRET_LOOKING_KEY = re.compile(
    r"pass(word)?|secret|token|private[-_.]?key|credential|api[-_]?key", re.IGNORECASE
)
SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")

Validate = Callable[[ResourceValidationArgs, ReportViolation], None]


# ---------------------------------------------------------------------------- reading resources


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = props.get("spec") or {}
    if resource_type == "kubernetes:core/v1:Pod":
        return spec
    if resource_type == "kubernetes:batch/v1:CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    if resource_type in WORKLOADS:
        return (spec.get("template") or {}).get("spec")
    return None


def containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def images(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type in ECK_RESOURCES:
        image = (props.get("spec") or {}).get("image")
        return [image] if image else []
    spec = pod_spec(resource_type, props)
    return [c["image"] for c in containers(spec) if c.get("image")] if spec else []


def namespace_of(props: Mapping[str, Any]) -> str:
    return (props.get("metadata") or {}).get("namespace") or ""


def config(args: ResourceValidationArgs | StackValidationArgs) -> Mapping[str, Any]:
    return args.get_config() or {}


def exempt(args: ResourceValidationArgs) -> bool:
    """Whether the resource is in a namespace the site configured for node agents (the log
    shipper and the node exporter: they read host paths by nature)."""
    return namespace_of(args.props) in config(args).get("nodeAgentNamespaces", [])


def report_unless_exempt(args: ResourceValidationArgs, problems: list[str], report: ReportViolation) -> None:
    """Reports `problems` unless the resource is in the node agents' namespace, which is read only
    when there is a problem: a preview that cannot know it yet (the local stack's, named from a
    cluster that does not exist) still judges the rest of the resource."""
    if problems and not exempt(args):
        for problem in problems:
            report(problem)


def for_pods(check: Callable[[Mapping[str, Any], Mapping[str, Any], ReportViolation, str], None]) -> Validate:
    """A validation run on every container of a workload, with the pod spec at hand."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        spec = pod_spec(args.resource_type, args.props)
        if spec is None:
            return
        problems: list[str] = []
        for container in containers(spec):
            check(spec, container, problems.append, f"{args.name}: container {container.get('name')!r}")
        report_unless_exempt(args, problems, report)

    return validate


def security(spec: Mapping[str, Any], container: Mapping[str, Any], key: str) -> Any:
    """A security setting as Kubernetes resolves it: the container's, else the pod's."""
    own = (container.get("securityContext") or {}).get(key)
    return own if own is not None else (spec.get("securityContext") or {}).get(key)


# ---------------------------------------------------------------------------- images


def _image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for image in images(args.resource_type, args.props):
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else ""
        if not tag or tag == "latest":
            report(f"{args.name}: image {image!r} is not pinned (give an exact tag or a digest)")


def _image_from_mirror(args: ResourceValidationArgs, report: ReportViolation) -> None:
    mirror = config(args).get("imageMirror")
    if not mirror:
        return  # an online site
    for image in images(args.resource_type, args.props):
        if not image.startswith(f"{mirror}/"):
            report(f"{args.name}: image {image!r} is not from the site's mirror {mirror}")


# ---------------------------------------------------------------------------- pod hardening


def _resources(
    spec: Mapping[str, Any], container: Mapping[str, Any], report: ReportViolation, where: str
) -> None:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    missing = [name for name in ("cpu", "memory") if name not in requests]
    if missing:
        report(f"{where}: no {' or '.join(missing)} request")
    if "memory" not in (resources.get("limits") or {}):
        report(f"{where}: no memory limit")


def _non_root(
    spec: Mapping[str, Any], container: Mapping[str, Any], report: ReportViolation, where: str
) -> None:
    if security(spec, container, "runAsNonRoot") is not True or security(spec, container, "runAsUser") == 0:
        report(f"{where}: must run as a non-root user (runAsNonRoot: true)")


def _no_escalation(
    spec: Mapping[str, Any], container: Mapping[str, Any], report: ReportViolation, where: str
) -> None:
    context = container.get("securityContext") or {}
    if context.get("allowPrivilegeEscalation") is not False or context.get("privileged"):
        report(f"{where}: must set allowPrivilegeEscalation: false and not be privileged")


def _drop_all(
    spec: Mapping[str, Any], container: Mapping[str, Any], report: ReportViolation, where: str
) -> None:
    capabilities = (container.get("securityContext") or {}).get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        report(f"{where}: must drop all capabilities")
    if capabilities.get("add"):
        report(f"{where}: adds capabilities {capabilities['add']}")


def _read_only_root(
    spec: Mapping[str, Any], container: Mapping[str, Any], report: ReportViolation, where: str
) -> None:
    if (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
        report(f"{where}: the root filesystem must be read-only")


def _seccomp(
    spec: Mapping[str, Any], container: Mapping[str, Any], report: ReportViolation, where: str
) -> None:
    profile = security(spec, container, "seccompProfile") or {}
    if profile.get("type") != "RuntimeDefault":
        report(f"{where}: seccompProfile must be RuntimeDefault")


def operator_pod_templates(
    resource_type: str, props: Mapping[str, Any]
) -> list[tuple[str, Mapping[str, Any]]]:
    """The pod templates an operator builds pods from, for the custom resources whose pods get
    injected containers: ECK node sets and pod templates, prometheus-operator's top-level spec."""
    spec = props.get("spec") or {}
    kind = resource_type.rsplit(":", 1)[-1]
    if kind == "Elasticsearch":
        return [
            (f"nodeSet {node_set.get('name')!r}", (node_set.get("podTemplate") or {}).get("spec") or {})
            for node_set in spec.get("nodeSets") or []
        ]
    if kind in ("Kibana", "Logstash"):
        return [("podTemplate", (spec.get("podTemplate") or {}).get("spec") or {})]
    if kind in ("Prometheus", "Alertmanager"):
        return [("spec", spec)]
    return []


def _injected_hardened(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Pod Security judges the pod the operator builds: every container the operator injects into
    this resource's pods must be declared in its template with the restricted settings, or the
    operator's own weaker ones stand and the pod is refused while the resource looks created."""
    expected = (config(args).get("injectedContainers") or {}).get(args.resource_type)
    if not expected or exempt(args):
        return
    for where, spec in operator_pod_templates(args.resource_type, args.props):
        for field, names in (
            ("initContainers", expected.get("init", [])),
            ("containers", expected.get("containers", [])),
        ):
            declared = {c.get("name"): c for c in spec.get(field) or []}
            for name in names:
                condition = (expected.get("when") or {}).get(name)
                if condition and not (args.props.get("spec") or {}).get(condition):
                    continue  # injected only when the resource sets that field
                container = declared.get(name)
                at = f"{args.name}: {where}: {field[:-1]} {name!r} (injected by the operator)"
                if container is None:
                    report(f"{at} is not declared with hardened settings")
                    continue
                problems: list[str] = []
                _no_escalation(spec, container, problems.append, at)
                _drop_all(spec, container, problems.append, at)
                _non_root(spec, container, problems.append, at)
                _seccomp(spec, container, problems.append, at)
                for problem in problems:
                    report(problem)


CLAIMS_BY_DEFAULT = {
    # ECK 3.5.0 gives every node set a data claim (`elasticsearch-data`) and every Logstash a
    # `logstash-data` claim (pkg/controller/logstash/volume/defaults.go) when none is declared.
    "Elasticsearch": "elasticsearch-data",
    "Logstash": "logstash-data",
}


def _template_names(templates: Any) -> list[str]:
    return [str((t.get("metadata") or {}).get("name")) for t in templates or []]


def _claims(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], list[str]]]:
    """(where, pod spec, writable claims) of every pod template that mounts a PersistentVolumeClaim:
    a pod volume, a StatefulSet's claim template, or the claims an operator gives the pods of its
    custom resource (ECK's data volumes, prometheus-operator's `storage.volumeClaimTemplate`)."""
    kind = resource_type.rsplit(":", 1)[-1]
    spec = props.get("spec") or {}
    found: list[tuple[str, Mapping[str, Any], list[str]]] = []
    if kind == "Elasticsearch":
        for node_set in spec.get("nodeSets") or []:
            pod = (node_set.get("podTemplate") or {}).get("spec") or {}
            claims = _template_names(node_set.get("volumeClaimTemplates")) or [CLAIMS_BY_DEFAULT[kind]]
            found.append((f"nodeSet {node_set.get('name')!r}", pod, claims))
        return found
    if kind == "Logstash":
        pod = (spec.get("podTemplate") or {}).get("spec") or {}
        claims = _template_names(spec.get("volumeClaimTemplates")) or [CLAIMS_BY_DEFAULT[kind]]
        return [("podTemplate", pod, claims)]
    if kind in ("Prometheus", "Alertmanager"):
        storage = spec.get("storage") or {}
        return [("spec", spec, ["storage"])] if storage.get("volumeClaimTemplate") else []
    pod = pod_spec(resource_type, props)
    if pod is None:
        return found
    read_only_mounts = {
        mount.get("name")
        for container in containers(pod)
        for mount in container.get("volumeMounts") or []
        if mount.get("readOnly")
    }
    writable_mounts = {
        mount.get("name")
        for container in containers(pod)
        for mount in container.get("volumeMounts") or []
        if not mount.get("readOnly")
    }
    names = [
        volume.get("name")
        for volume in pod.get("volumes") or []
        if "persistentVolumeClaim" in volume and not (volume["persistentVolumeClaim"] or {}).get("readOnly")
    ]
    if resource_type == "kubernetes:apps/v1:StatefulSet":
        names += _template_names(spec.get("volumeClaimTemplates"))
    writable = [str(n) for n in names if n in writable_mounts or n not in read_only_mounts]
    if writable:
        found.append(("pod", pod, writable))
    return found


def _runs_as_non_root(pod: Mapping[str, Any]) -> bool:
    if (pod.get("securityContext") or {}).get("runAsNonRoot") is True:
        return True
    return any((c.get("securityContext") or {}).get("runAsNonRoot") is True for c in containers(pod))


def _volumes_writable(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A pod that runs as non-root and writes a PersistentVolumeClaim sets the pod's `fsGroup`:
    most CSI drivers create volumes root-owned (mode 0755), so without it the volume is not
    writable by the pod's user, and nothing refuses the pod (Pod Security accepts it)."""
    for where, pod, claims in _claims(args.resource_type, args.props):
        if not _runs_as_non_root(pod):
            continue
        if (pod.get("securityContext") or {}).get("fsGroup") is None:
            report(
                f"{args.name}: {where}: runs as non-root and writes the volume claim(s) {', '.join(claims)}"
                " but sets no pod fsGroup (a root-owned volume would not be writable)"
            )


def _host_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "kubernetes:beat.k8s.elastic.co/v1beta1:Beat":
        spec = ((args.props.get("spec") or {}).get("daemonSet") or {}).get("podTemplate", {}).get(
            "spec"
        ) or {}
    else:
        spec = pod_spec(args.resource_type, args.props)
    if not spec:
        return
    problems = [
        f"{args.name}: {flag} is reserved for the node agents' namespace"
        for flag in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(flag)
    ] + [
        f"{args.name}: volume {volume.get('name')!r} is a hostPath, reserved for the node agents"
        for volume in spec.get("volumes") or []
        if "hostPath" in volume
    ]
    report_unless_exempt(args, problems, report)


# ---------------------------------------------------------------------------- exposure and routes


def _service_types(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Service":
        return
    kind = (args.props.get("spec") or {}).get("type", "ClusterIP")
    settings = config(args)
    gateway = settings.get("gatewayNamespace", "platform-gateway")
    if kind == "LoadBalancer" and namespace_of(args.props) != gateway:
        report(f"{args.name}: only the gateway's proxy may be a LoadBalancer")
    if kind == "NodePort" and (not settings.get("nodePortsAllowed") or namespace_of(args.props) != gateway):
        report(f"{args.name}: NodePort is only for the gateway, on sites configured for it")


def _routes_need_tokens(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:networking.k8s.io/v1:Ingress":
        return
    settings = config(args)
    metadata = args.props.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    plugins = [p.strip() for p in annotations.get("konghq.com/plugins", "").split(",") if p.strip()]
    if settings.get("jwtPlugin", "jwt-verify") in plugins:
        return
    allow = settings.get("publicRoutes", {})
    domain = settings.get("domain", "")
    for rule in (args.props.get("spec") or {}).get("rules") or []:
        label = (rule.get("host") or "").removesuffix(f".{domain}")
        paths = [p.get("path") for p in ((rule.get("http") or {}).get("paths") or [])]
        allowed = set(allow.get(label, []))
        if not annotations.get(PUBLIC_ROUTE_ANNOTATION) or not set(paths) <= allowed:
            report(
                f"{args.name}: route {rule.get('host')}{paths} has no token check"
                " and is not on the public allow-list"
            )


def _hosts_have_certificates(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Where the site's issuer makes a certificate per host, every host an Ingress routes is in
    its `tls` with a Secret: a host left out would be served Kong's default certificate (a
    provided one, or Kong's own self-signed)."""
    if args.resource_type != "kubernetes:networking.k8s.io/v1:Ingress" or not config(args).get(
        "issuedCertificates"
    ):
        return
    spec = args.props.get("spec") or {}
    covered = {
        host
        for entry in spec.get("tls") or []
        if entry.get("secretName")
        for host in entry.get("hosts") or []
    }
    for rule in spec.get("rules") or []:
        host = rule.get("host")
        if host and host not in covered:
            report(f"{args.name}: host {host} has no certificate in the Ingress's tls (one per host)")


# ---------------------------------------------------------------------------- hygiene


def _chart_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A chart's own inputs where they are known (mocks, `helm.v3.Release`); on a real engine a
    `helm.v4.Chart` has none, so the objects it rendered say which version was rendered: an object
    labelled with a catalog chart's name must carry the catalog's pin (subcharts, labelled with
    their own names, are pinned by their parent's lock file)."""
    if args.resource_type in CHARTS:
        if not args.props:
            return  # a real engine's view: the rendered objects below are judged instead
        version = args.props.get("version") or ""
        if not SEMVER.match(str(version)):
            report(
                f"{args.name}: chart {args.props.get('chart')!r} must be pinned to an exact version"
                f" (got {version!r})"
            )
        return
    if args.resource_type in COMPONENTS or not args.resource_type.startswith("kubernetes:"):
        return
    label = ((args.props.get("metadata") or {}).get("labels") or {}).get(CHART_LABEL)
    if not isinstance(label, str):
        return
    pins: Mapping[str, str] = config(args).get("chartPins") or {}
    for chart in sorted(pins, key=len, reverse=True):  # the longest name first: eck-operator-crds
        rendered = label.removeprefix(f"{chart}-") if label.startswith(f"{chart}-") else None
        if rendered is None or not SEMVER.match(rendered):
            continue  # another chart, or a subchart named after this one (eck-operator-crds-…)
        if rendered != pins[chart]:
            report(f"{args.name}: rendered from chart {chart} {rendered}; the catalog pins {pins[chart]}")
        return


def _no_secrets_in_config_maps(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:ConfigMap":
        return
    data = args.props.get("data") or {}
    unknown: UnknownValueError | None = None
    for key in list(data.keys()):
        if SECRET_LOOKING_KEY.search(key):
            report(f"{args.name}: key {key!r} looks like a secret; use a Secret")
        try:
            value = data[key]
        except UnknownValueError as error:  # judged at `up`; the other keys are judged now
            unknown = error
            continue
        if isinstance(value, str) and "PRIVATE KEY-----" in value:
            report(f"{args.name}: key {key!r} holds a private key; use a Secret")
    if unknown is not None:
        raise unknown  # the engine's advisory "can't run during preview" for what was unknown


def _common_labels(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every Kubernetes object. A component (a chart, a manifest file) has no metadata of its own:
    the objects it renders carry the labels (the program's transform puts them there)."""
    if not args.resource_type.startswith("kubernetes:") or args.resource_type in CHARTS | COMPONENTS:
        return
    labels = (args.props.get("metadata") or {}).get("labels") or {}
    site = config(args).get("site")
    if not labels.get("app.kubernetes.io/name"):
        report(f"{args.name}: no app.kubernetes.io/name label")
    if labels.get("app.kubernetes.io/part-of") != PART_OF:
        report(f"{args.name}: app.kubernetes.io/part-of must be {PART_OF}")
    if not labels.get(SITE_LABEL) or (site and labels.get(SITE_LABEL) != site):
        report(f"{args.name}: the {SITE_LABEL} label must name the site")


def _pod_security_labels(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != "kubernetes:core/v1:Namespace":
        return
    metadata = args.props.get("metadata") or {}
    labels = metadata.get("labels") or {}
    level = labels.get("pod-security.kubernetes.io/enforce")
    looser = metadata.get("name") in config(args).get("nodeAgentNamespaces", [])
    if level != "restricted" and not (
        looser and level and (metadata.get("annotations") or {}).get("national-platform/pod-security-reason")
    ):
        report(
            f"{args.name}: Pod Security must be enforced at 'restricted' (a looser level needs its reason)"
        )


# ---------------------------------------------------------------------------- stack policies


def _namespaces(args: StackValidationArgs) -> Iterator[str]:
    """Namespace names known at this point. In a preview of a site whose cluster does not exist
    yet (the local kind stack), names computed from it are unknown and arrive as None: a policy
    judges them at `pulumi up`, when they are known, never as a name of its own."""
    for resource in args.resources:
        if resource.resource_type != "kubernetes:core/v1:Namespace":
            continue
        try:
            name = (resource.props.get("metadata") or {}).get("name")
        except UnknownValueError:  # the SDK's proxy raises on reading an unknown value
            continue
        if isinstance(name, str) and name != UNKNOWN_STRING_VALUE:
            yield name


def _default_deny(args: StackValidationArgs, report: ReportViolation) -> None:
    denied = set()
    for resource in args.resources:
        if resource.resource_type != "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            continue
        try:
            spec = resource.props.get("spec") or {}
            if (
                not (spec.get("podSelector") or {}).get("matchLabels")
                and not (spec.get("podSelector") or {}).get("matchExpressions")
                and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
                and not spec.get("ingress")
                and not spec.get("egress")
            ):
                denied.add(namespace_of(resource.props))
        except UnknownValueError:
            continue  # judged at `up`; one unknown must not silence the policy for every namespace
    for namespace in _namespaces(args):
        if namespace not in denied:
            report(f"namespace {namespace} has no default-deny NetworkPolicy")


def _replicas_and_budgets(args: StackValidationArgs, report: ReportViolation) -> None:
    if not config(args).get("highAvailability"):
        return
    autoscaled: dict[tuple[str, str], int] = {}
    budgets: list[tuple[str, Mapping[str, str]]] = []
    for resource in args.resources:
        props = resource.props
        try:
            if resource.resource_type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
                target = (props.get("spec") or {}).get("scaleTargetRef") or {}
                autoscaled[(namespace_of(props), target.get("name"))] = (props.get("spec") or {}).get(
                    "minReplicas", 1
                )
            if resource.resource_type == "kubernetes:policy/v1:PodDisruptionBudget":
                selector = ((props.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
                budgets.append((namespace_of(props), dict(selector)))
        except UnknownValueError:
            continue  # judged at `up`
    singletons = set(config(args).get("singletons", []))
    for resource in args.resources:
        if resource.resource_type not in SCALABLE:
            continue
        props = resource.props
        try:
            name = (props.get("metadata") or {}).get("name")
            namespace = namespace_of(props)
            spec = props.get("spec") or {}
            replicas = autoscaled.get((namespace, name), spec.get("replicas", 1))
            labels = dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
        except UnknownValueError:
            continue  # judged at `up`, when it is known
        if f"{namespace}/{name}" in singletons:
            continue
        if replicas < 2:
            report(f"{namespace}/{name}: {replicas:g} replica(s); a medium or large site runs at least 2")
        if not any(
            ns == namespace and selector and selector.items() <= labels.items() for ns, selector in budgets
        ):
            report(f"{namespace}/{name}: no PodDisruptionBudget selects it")


KEYCLOAK_TYPE = "kubernetes:k8s.keycloak.org/v2alpha1:Keycloak"
POSTGRES_CLUSTER_TYPE = "kubernetes:postgresql.cnpg.io/v1:Cluster"


def _identity_behind_gateway(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Keycloak is reached through Kong only, and trusts only the headers Kong sets: the
    operator's own Ingress off, a fixed public hostname (no host taken from the request), the
    X-Forwarded-* headers read, the admin console on no hostname of its own."""
    if args.resource_type != KEYCLOAK_TYPE:
        return
    spec = args.props.get("spec") or {}
    name = (args.props.get("metadata") or {}).get("name")
    if (spec.get("ingress") or {}).get("enabled", True) is not False:
        report(f"{name}: the operator's Ingress must be off (ingress.enabled: false): routes go through Kong")
    hostname = spec.get("hostname") or {}
    if not str(hostname.get("hostname", "")).startswith("https://") or hostname.get("strict") is not True:
        report(f"{name}: hostname must be a fixed https:// URL with strict: true (issuers never follow Host)")
    if hostname.get("admin") or hostname.get("adminUrl"):
        report(f"{name}: no admin hostname: the admin console is reached by port-forward only")
    if (spec.get("proxy") or {}).get("headers") != "xforwarded":
        report(f"{name}: proxy.headers must be xforwarded (Kong's X-Forwarded-* headers)")


def _databases_locked_down(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A PostgreSQL cluster gives no superuser access, and its credentials are generated and
    referenced by Secret, never written in the resource."""
    if args.resource_type != POSTGRES_CLUSTER_TYPE:
        return
    spec = args.props.get("spec") or {}
    name = (args.props.get("metadata") or {}).get("name")
    if spec.get("enableSuperuserAccess") is not False:
        report(f"{name}: enableSuperuserAccess must be false")
    initdb = (spec.get("bootstrap") or {}).get("initdb") or {}
    if initdb and not (initdb.get("secret") or {}).get("name"):
        report(f"{name}: bootstrap.initdb must name the owner's credentials Secret")
    if "superuserSecret" in spec:
        report(f"{name}: no superuser Secret: the superuser stays inside the cluster")


@dataclass(frozen=True)
class RealEngine:
    """What a policy reads in a real preview: of a component (`helm.v4.Chart`, `yaml/v2:
    ConfigFile`), which arrives with no inputs, and of the objects it renders, which arrive as
    ordinary resources (the program's transforms applied) and are judged like the program's."""

    components: str
    children: str


_NOT_A_COMPONENT = "nothing: a component has no inputs in a real preview"
_POD_CHILDREN = (
    "every rendered workload's pod template (Deployments, StatefulSets, DaemonSets, Jobs), made to "
    "comply through the chart's values; node agents exempt (data)"
)

REAL_ENGINE: dict[str, RealEngine] = {
    "images-pinned": RealEngine(
        _NOT_A_COMPONENT, "every rendered container's image (tags from the catalog through the values)"
    ),
    "images-from-site-mirror": RealEngine(
        _NOT_A_COMPONENT, "every rendered container's image, resolved through the site's mirror by the values"
    ),
    "container-resources": RealEngine(
        _NOT_A_COMPONENT,
        "every container, sidecar and init container of every rendered pod template, sized by the "
        "chart's values",
    ),
    "run-as-non-root": RealEngine(_NOT_A_COMPONENT, _POD_CHILDREN),
    "no-privilege-escalation": RealEngine(_NOT_A_COMPONENT, _POD_CHILDREN),
    "drop-all-capabilities": RealEngine(_NOT_A_COMPONENT, _POD_CHILDREN),
    "read-only-root-filesystem": RealEngine(_NOT_A_COMPONENT, _POD_CHILDREN),
    "seccomp-runtime-default": RealEngine(_NOT_A_COMPONENT, _POD_CHILDREN),
    "injected-containers-hardened": RealEngine(
        _NOT_A_COMPONENT,
        "nothing: it judges the custom resources whose operators inject containers, which the program "
        "declares itself",
    ),
    "volumes-writable-by-the-pod": RealEngine(
        _NOT_A_COMPONENT,
        "every rendered pod template that writes a claim (pod volumes, StatefulSet claim templates); "
        "the operators' resources' claims as the program declares them",
    ),
    "host-access-only-for-node-agents": RealEngine(
        _NOT_A_COMPONENT,
        "every rendered pod template: only the node agents' namespace (data) reads host paths",
    ),
    "exposure-only-through-the-gateway": RealEngine(
        _NOT_A_COMPONENT, "every rendered Service: all but the gateway's proxy stay ClusterIP"
    ),
    "routes-require-tokens": RealEngine(
        _NOT_A_COMPONENT, "every rendered Ingress (the charts' own are off: none is rendered)"
    ),
    "hosts-have-certificates": RealEngine(
        _NOT_A_COMPONENT, "every rendered Ingress (the charts' own are off: none is rendered)"
    ),
    "charts-pinned": RealEngine(
        "a Chart's version where its inputs are known (mocks, helm.v3.Release); a real engine's Chart "
        "has none and passes",
        f"the {CHART_LABEL} label of every rendered object: a catalog chart's name must come with the "
        "catalog's pin (subcharts carry their own names)",
    ),
    "no-secrets-in-config-maps": RealEngine(_NOT_A_COMPONENT, "every rendered ConfigMap's data"),
    "common-labels": RealEngine(
        "nothing: a component has no metadata of its own",
        "every rendered object's own metadata, labelled by the program's chart and manifest transforms",
    ),
    "pod-security-restricted": RealEngine(
        _NOT_A_COMPONENT, "every rendered Namespace (the charts and manifests render none)"
    ),
    "identity-behind-the-gateway": RealEngine(
        _NOT_A_COMPONENT, "nothing: the Keycloak resource is the program's, not a manifest's"
    ),
    "databases-locked-down": RealEngine(
        _NOT_A_COMPONENT, "nothing: the CloudNativePG Cluster is the program's, not a chart's"
    ),
    "namespaces-default-deny": RealEngine(
        "nothing (a stack policy reads the Namespaces and NetworkPolicies only)",
        "rendered NetworkPolicies count like the program's; a value unknown at preview is judged at `up`",
    ),
    "replicas-and-disruption-budgets": RealEngine(
        "nothing (a stack policy reads Deployments, StatefulSets, autoscalers and budgets only)",
        "every rendered Deployment and StatefulSet, and the operators' singletons are exemptions with "
        "reasons (data per site); a value unknown at preview is judged at `up`",
    ),
}
"""Each policy's reading of a real preview, stated once: the README's table is checked against it."""


SITE_SCHEMA = PolicyConfigSchema(
    properties={
        "site": {"type": "string"},
        "domain": {"type": "string"},
        "imageMirror": {"type": ["string", "null"]},
        "nodeAgentNamespaces": {"type": "array", "items": {"type": "string"}},
        "gatewayNamespace": {"type": "string"},
        "nodePortsAllowed": {"type": "boolean"},
        "publicRoutes": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "jwtPlugin": {"type": "string"},
        "chartPins": {"type": "object", "additionalProperties": {"type": "string"}},
        "issuedCertificates": {"type": "boolean"},
        "highAvailability": {"type": "boolean"},
        "singletons": {"type": "array", "items": {"type": "string"}},
        "singletonReasons": {"type": "object", "additionalProperties": {"type": "string"}},
        "injectedContainers": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "init": {"type": "array", "items": {"type": "string"}},
                    "containers": {"type": "array", "items": {"type": "string"}},
                    "when": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
    },
)
"""Every policy reads its settings from the same site description (natplat.review.policy_config)."""


def _policy(name: str, description: str, validate: Validate) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=SITE_SCHEMA,
    )


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    _policy("images-pinned", "Every image has an exact tag (not latest) or a digest.", _image_pinned),
    _policy(
        "images-from-site-mirror",
        "On an air-gapped site every image comes from its mirror.",
        _image_from_mirror,
    ),
    _policy(
        "container-resources",
        "Every container requests CPU and memory and has a memory limit.",
        for_pods(_resources),
    ),
    _policy("run-as-non-root", "Containers run as a non-root user (node agents aside).", for_pods(_non_root)),
    _policy(
        "no-privilege-escalation",
        "No privilege escalation, no privileged containers.",
        for_pods(_no_escalation),
    ),
    _policy("drop-all-capabilities", "Containers drop every capability and add none.", for_pods(_drop_all)),
    _policy(
        "read-only-root-filesystem",
        "Containers run on a read-only root filesystem.",
        for_pods(_read_only_root),
    ),
    _policy(
        "seccomp-runtime-default", "Pods run under the RuntimeDefault seccomp profile.", for_pods(_seccomp)
    ),
    _policy(
        "injected-containers-hardened",
        "Containers an operator injects into a restricted namespace's pods are declared hardened by name.",
        _injected_hardened,
    ),
    _policy(
        "volumes-writable-by-the-pod",
        "A pod that runs as non-root and writes a PersistentVolumeClaim sets the pod's fsGroup.",
        _volumes_writable,
    ),
    _policy(
        "host-access-only-for-node-agents",
        "hostPath, hostNetwork, hostPID and hostIPC only in the node agents' namespace (the log shipper).",
        _host_access,
    ),
    _policy(
        "exposure-only-through-the-gateway",
        "LoadBalancer only for the gateway's proxy; NodePort only there and on sites configured for it.",
        _service_types,
    ),
    _policy(
        "routes-require-tokens",
        "Every Ingress carries the jwt plugin unless it is on the public allow-list and says why.",
        _routes_need_tokens,
    ),
    _policy(
        "hosts-have-certificates",
        "Where the site's issuer makes certificates, every host an Ingress routes names its own.",
        _hosts_have_certificates,
    ),
    _policy("charts-pinned", "Helm charts are pinned to an exact version.", _chart_pinned),
    _policy(
        "no-secrets-in-config-maps",
        "No secret-looking key or private key in a ConfigMap.",
        _no_secrets_in_config_maps,
    ),
    _policy("common-labels", "Every object carries the name, part-of and site labels.", _common_labels),
    _policy(
        "pod-security-restricted",
        "Namespaces enforce Pod Security 'restricted', or say why not.",
        _pod_security_labels,
    ),
    _policy(
        "identity-behind-the-gateway",
        "Keycloak is reached through Kong only: no operator Ingress, a strict https hostname, "
        "Kong's headers.",
        _identity_behind_gateway,
    ),
    _policy(
        "databases-locked-down",
        "PostgreSQL clusters give no superuser access; owners' credentials come from a Secret.",
        _databases_locked_down,
    ),
    StackValidationPolicy(
        name="namespaces-default-deny",
        description="Every namespace has a default-deny NetworkPolicy (ingress and egress).",
        validate=_default_deny,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=SITE_SCHEMA,
    ),
    StackValidationPolicy(
        name="replicas-and-disruption-budgets",
        description=(
            "On medium and large sites every Deployment and StatefulSet runs 2+ replicas"
            " under a PodDisruptionBudget."
        ),
        validate=_replicas_and_budgets,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=SITE_SCHEMA,
    ),
]
