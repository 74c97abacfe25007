"""Our side of each contract with the pinned charts: values that make the rendered objects match
the platform's intent. The charts cannot be rendered here (`make render-charts` does it where helm
and the chart repositories are reachable), so each test names the chart fact it relies on, read in
the chart's templates at the pinned version."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from conftest import stack_run
from harness import ROOT, ProgramRun, Recorded
from natplat.blocks.charts import removal_yaml
from natplat.layers.gateway.kong import INGRESS_CONTROLLER, WEBHOOK_SERVICE, WEBHOOK_TLS_SECRET
from natplat.layers.gateway.routes import INGRESS_CLASS
from natplat.layers.monitoring import CONFIG_RELOADER_RESOURCES, GRAFANA_ROLE, KUBE_STATE_METRICS_COLLECTORS
from natplat.review.plan import mirror_list
from natplat.spec.catalog import MONITORING_IMAGES, THANOS_BASE_IMAGE

STACKS = ["local", "staging", "capital", "north", "coast"]


def chart_resource(run: ProgramRun, release: str) -> Recorded:
    (found,) = [r for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == release]
    return found


def chart(run: ProgramRun, release: str) -> dict[str, Any]:
    return chart_resource(run, release).inputs


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return stack_run(request.param)


# ---------------------------------------------------------------------------- images as pulled


def test_node_exporter_tag_is_what_the_pods_pull(run: ProgramRun) -> None:
    """prometheus-node-exporter 4.56.1 (templates/_helpers.tpl, "prometheus-node-exporter.image")
    appends "-distroless" to the tag it is given when image.distroless is true, which
    kube-prometheus-stack 88.5.3 sets: the program turns it off and the catalog's tag carries the
    suffix, so the tag pulled is the tag mirrored."""
    image = chart(run, "monitoring")["values"]["prometheus-node-exporter"]["image"]
    assert image["distroless"] is False
    assert image["tag"] == MONITORING_IMAGES["nodeExporter"].tag == "v1.12.1-distroless"


def test_air_gapped_mirror_list_names_the_tags_the_pods_pull() -> None:
    lines = mirror_list(ROOT / "stacks" / "Pulumi.north.yaml")
    assert any(
        line.startswith("image quay.io/prometheus/node-exporter:v1.12.1-distroless ") for line in lines
    )
    # kube-prometheus-stack 88.5.3's own default for Prometheus is the distroless tag.
    assert any(line.startswith("image quay.io/prometheus/prometheus:v3.14.0-distroless ") for line in lines)
    # The Thanos base image is an operator flag, not a pod's image: not mirrored.
    assert not any("thanos" in line for line in lines)


def test_thanos_default_base_image_names_the_mirror_on_air_gapped_sites() -> None:
    """kube-prometheus-stack 88.5.3 passes prometheusOperator.thanosImage to the operator as
    --thanos-default-base-image (templates/prometheus-operator/deployment.yaml)."""
    thanos = chart(stack_run("north"), "monitoring")["values"]["prometheusOperator"]["thanosImage"]
    assert thanos == {
        "registry": "mirror.north.platform.gov.example/upstream",
        "repository": f"{THANOS_BASE_IMAGE.registry}/{THANOS_BASE_IMAGE.repository}",
        "tag": THANOS_BASE_IMAGE.tag,
    }


# ---------------------------------------------------------------------------- Grafana's reach


def test_grafana_reads_only_configmaps_of_its_own_namespace(run: ProgramRun) -> None:
    """grafana 12.11.1 binds a ClusterRole with get/watch/list on ConfigMaps and Secrets unless
    rbac.namespaced (templates/clusterrole.yaml), and its namespaced Role also grants Secrets
    (templates/role.yaml) unless rbac.useExistingRole names another; kube-prometheus-stack sets
    the dashboards sidecar's searchNamespace to ALL."""
    grafana = chart(run, "monitoring")["values"]["grafana"]
    assert grafana["rbac"] == {"create": True, "namespaced": True, "useExistingRole": GRAFANA_ROLE}
    for sidecar in ("dashboards", "datasources"):
        assert grafana["sidecar"][sidecar]["resource"] == "configmap"
        assert grafana["sidecar"][sidecar]["searchNamespace"] == "platform-monitoring"
    (role,) = [r.inputs for r in run.kubernetes("Role") if r.metadata["name"] == GRAFANA_ROLE]
    assert role["metadata"]["namespace"] == "platform-monitoring"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch", "list"]}
    ]


def test_kube_state_metrics_does_not_list_secrets(run: ProgramRun) -> None:
    """kube-state-metrics 8.4.0 grants list/watch on Secrets when its `secrets` collector is on
    (templates/role.yaml, `has "secrets" $activeCollectors`), which its default list includes."""
    collectors = chart(run, "monitoring")["values"]["kube-state-metrics"]["collectors"]
    assert "secrets" not in collectors
    assert collectors == list(KUBE_STATE_METRICS_COLLECTORS) and "deployments" in collectors


def test_grafana_sidecars_are_sized_and_locked_down(run: ProgramRun) -> None:
    sidecar = chart(run, "monitoring")["values"]["grafana"]["sidecar"]
    assert sidecar["resources"]["requests"]["cpu"] and sidecar["resources"]["limits"]["memory"]
    assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True
    assert sidecar["securityContext"]["allowPrivilegeEscalation"] is False


# ---------------------------------------------------------------------------- Kong


def test_the_program_owns_the_kong_ingress_class(run: ProgramRun) -> None:
    """Kong chart 3.4.1 (templates/ingress-class.yaml) emits the IngressClass only when a lookup
    finds none or finds one annotated meta.helm.sh/release-name: kong; helm.v4.Chart never adds
    that annotation, so the chart's class would flip on alternate `pulumi up` runs."""
    values = chart(run, "kong")["values"]
    assert values["ingressController"]["createIngressClass"] is False
    (ingress_class,) = run.kubernetes("IngressClass")
    assert ingress_class.metadata["name"] == INGRESS_CLASS == values["ingressController"]["ingressClass"]
    assert ingress_class.inputs["spec"]["controller"] == INGRESS_CONTROLLER
    for ingress in run.kubernetes("Ingress"):
        assert ingress.inputs["spec"]["ingressClassName"] == INGRESS_CLASS


def test_kong_admission_webhook_certificate_is_made_once_by_the_program(run: ProgramRun) -> None:
    """Kong chart 3.4.1 (templates/admission-webhook.yaml) calls genCA and genSignedCert on every
    render unless admissionWebhook.certificate.provided: each `pulumi up` would replace them."""
    webhook = chart(run, "kong")["values"]["ingressController"]["admissionWebhook"]
    assert webhook["certificate"]["provided"] is True
    assert webhook["certificate"]["secretName"] == WEBHOOK_TLS_SECRET
    (ca,) = [c for c in run.of_type("tls:index/selfSignedCert:SelfSignedCert") if c.name == "kong-webhook-ca"]
    assert ca.inputs["isCaCertificate"] is True
    # Its CA is not a value (the chart would be unknown at a first preview): with `provided` and no
    # caBundle the template writes none, and the chart's transform puts it on the webhook
    # configuration alone (test_first_preview).
    assert "caBundle" not in webhook["certificate"]
    transforms = [t.__qualname__ for t in chart_resource(run, "kong").transforms]
    assert transforms == ["label_transform.<locals>.transform", "webhook_ca_transform.<locals>.transform"]
    (request,) = run.of_type("tls:index/certRequest:CertRequest")
    assert f"{WEBHOOK_SERVICE}.platform-gateway.svc" in request.inputs["dnsNames"]
    (secret,) = [r for r in run.kubernetes("Secret") if r.metadata["name"] == WEBHOOK_TLS_SECRET]
    assert secret.inputs["type"] == "kubernetes.io/tls"
    (cert,) = run.of_type("tls:index/locallySignedCert:LocallySignedCert")
    assert 0 < cert.inputs["earlyRenewalHours"] < cert.inputs["validityPeriodHours"]


def test_kong_manager_is_not_published(run: ProgramRun) -> None:
    """Kong chart 3.4.1 renders the `manager` Service (NodePort by default) when manager.enabled,
    and sets KONG_ADMIN_GUI_LISTEN from `manager` only in enterprise mode (templates/_helpers.tpl,
    "kong.env"): in OSS mode Kong keeps its default listener on every interface unless
    env.admin_gui_listen says otherwise (found by rendering the chart, not by reading values)."""
    values = chart(run, "kong")["values"]
    assert values["manager"] == {"enabled": False, "http": {"enabled": False}, "tls": {"enabled": False}}
    assert values["env"]["admin_gui_listen"] == "off"


# ---------------------------------------------------------------------------- ECK operator


@pytest.mark.parametrize("stack", ["staging", "capital", "north", "coast"])
def test_eck_operator_has_no_cpu_limit(stack: str) -> None:
    """eck-operator 3.5.0's values.yaml sets resources.limits.cpu: 1 and Helm merges ours into it:
    only `cpu: null` deletes it, and Pulumi's Python SDK drops nulls from inline values, so it
    travels in a values file (the provider passes it to Helm as written)."""
    inputs = chart(stack_run(stack), "eck-operator")
    assert inputs["values"]["resources"]["limits"] == {"memory": "512Mi"}
    (removals,) = inputs["valueYamlFiles"]
    assert yaml.safe_load(removals.text) == {"resources": {"limits": {"cpu": None}}}


def test_removal_yaml_nests_and_sorts_paths() -> None:
    text = removal_yaml(("b.x", "a.y.z", "a.w"))
    assert text == "a:\n  w: null\n  y:\n    z: null\nb:\n  x: null\n"


def test_haproxy_pods_get_no_api_token(run: ProgramRun) -> None:
    """redis-ha 4.39.0 mounts a service-account token in HAProxy's pods unless
    haproxy.serviceAccount.automountToken is false (its default is true); HAProxy never calls the
    API (checkov CKV_K8S_38 on the rendered Deployment)."""
    haproxy = chart(run, "redis-ha")["values"]["haproxy"]
    assert haproxy["serviceAccount"] == {"create": True, "automountToken": False}


def test_grafana_runs_on_a_read_only_root_with_its_own_tmp(run: ProgramRun) -> None:
    """grafana 12.11.1's containerSecurityContext default has no readOnlyRootFilesystem; Grafana
    writes to /var/lib/grafana (the chart's `storage` emptyDir without persistence) and /tmp."""
    grafana = chart(run, "monitoring")["values"]["grafana"]
    assert grafana["containerSecurityContext"]["readOnlyRootFilesystem"] is True
    assert grafana["persistence"]["enabled"] is False
    assert {"name": "tmp", "mountPath": "/tmp"} in grafana["extraEmptyDirMounts"]  # noqa: S108 - a mount path


def test_node_exporter_keeps_host_namespaces_but_no_privilege(run: ProgramRun) -> None:
    """prometheus-node-exporter 4.56.1 sets only readOnlyRootFilesystem on its container and the
    user on its pod (values.yaml); the rendered DaemonSet then failed checkov on privilege
    escalation, capabilities and seccomp. Host network and PID stay: they are its job."""
    exporter = chart(run, "monitoring")["values"]["prometheus-node-exporter"]
    assert exporter["containerSecurityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert exporter["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert exporter["securityContext"]["runAsNonRoot"] is True


# ---------------------------------------------------------------------------- sidecars and operators


def test_the_config_reloaders_the_operator_injects_are_sized(run: ProgramRun) -> None:
    """kube-prometheus-stack 88.5.3 passes prometheusOperator.prometheusConfigReloader.resources to
    the operator as --config-reloader-{cpu,memory}-{request,limit}, each `| default 0`
    (templates/prometheus-operator/deployment.yaml): unset, the reloader sidecar it injects into
    Prometheus and Alertmanager asks for nothing and has no memory limit."""
    reloader = chart(run, "monitoring")["values"]["prometheusOperator"]["prometheusConfigReloader"]
    assert reloader["resources"] == CONFIG_RELOADER_RESOURCES
    assert CONFIG_RELOADER_RESOURCES["requests"]["cpu"] and CONFIG_RELOADER_RESOURCES["limits"]["memory"]


def test_the_database_operator_metrics_are_scraped_where_there_is_a_prometheus(run: ProgramRun) -> None:
    """cloudnative-pg 0.29.0 renders its operator's PodMonitor only `if
    .Values.monitoring.podMonitorEnabled` (templates/podmonitor.yaml), and its dashboard only
    through a sub-chart the platform does not ship (dashboards are the platform's own)."""
    values = chart(run, "cnpg")["values"]["monitoring"]
    assert values == {"podMonitorEnabled": True, "grafanaDashboard": {"create": False}}


# ---------------------------------------------------------------------------- certificates and backups


def test_cert_manager_images_are_the_repositories_the_program_gives() -> None:
    """cert-manager v1.21.1 templates/_helpers.tpl, "cert-manager.image": a set `repository` is
    taken whole (imageRegistry, imageNamespace and name are then ignored), prefixed only by an
    `image.registry` the program never sets, and joined to `tag`; deployment.yaml passes the
    acmesolver's through the same helper as `--acme-http01-solver-image`. So the mirror path the
    program writes is the image every pod, solver pods included, pulls."""
    values = chart(stack_run("north"), "cert-manager")["values"]
    for part in (values, values["webhook"], values["cainjector"], values["acmesolver"]):
        assert "registry" not in part["image"]
        assert set(part["image"]) == {"repository", "tag"}
    # enableCertificateOwnerRef renders --enable-certificate-owner-ref=true (deployment.yaml), and
    # an explicit minAvailable is what templates/poddisruptionbudget.yaml writes (it defaults to 1
    # only when neither bound is given).
    assert values["enableCertificateOwnerRef"] is True
    assert values["podDisruptionBudget"]["minAvailable"] == 1


def test_the_barman_plugins_service_account_is_the_one_the_program_binds() -> None:
    """plugin-barman-cloud 0.7.0 templates/_helpers.tpl: the fullname is the release name when the
    release name contains the chart name, and the ServiceAccount is the fullname (serviceAccount
    .create, the default). The program's own RBAC (rbac.create: false) binds exactly that name."""
    run = stack_run("north")
    release = [r for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "plugin-barman-cloud"]
    (inputs,) = [r.inputs for r in release]
    assert "plugin-barman-cloud" in inputs["name"]
    assert inputs["values"]["rbac"] == {"create": False}
    assert "serviceAccount" not in inputs["values"]
    subjects = [
        subject
        for kind in ("ClusterRoleBinding", "RoleBinding")
        for binding in run.kubernetes(kind)
        if binding.metadata["name"].startswith("plugin-barman-cloud")
        for subject in binding.inputs["subjects"]
    ]
    assert subjects and all(s["name"] == inputs["name"] for s in subjects)


def test_the_barman_plugin_and_its_sidecar_are_pulled_from_the_mirror() -> None:
    """plugin-barman-cloud 0.7.0 joins `registry/repository:tag` for the plugin (deployment.yaml)
    and for the sidecar it injects into database pods (configmap.yaml, SIDECAR_IMAGE), so the
    program splits the mirror path across registry and repository."""
    values = chart(stack_run("north"), "plugin-barman-cloud")["values"]
    for key, name in (("image", "plugin-barman-cloud"), ("sidecarImage", "plugin-barman-cloud-sidecar")):
        image = values[key]
        joined = f"{image['registry']}/{image['repository']}:{image['tag']}"
        assert joined == f"mirror.north.platform.gov.example/upstream/ghcr.io/cloudnative-pg/{name}:v0.13.0"
