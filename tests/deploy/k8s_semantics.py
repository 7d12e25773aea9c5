"""Checks a real API server (or the first minutes in a cluster) would make and a schema cannot:
references between objects, selectors against pod labels, ports, names, resource rules, HPA
rules, and this service's own rules (settings, threads, shutdown timing, no service links).

Every function takes the rendered objects of one kustomization and returns a list of errors
(empty: fine), so a test can report all of them at once.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

Obj = dict[str, Any]

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SCALABLE_KINDS = {"Deployment", "StatefulSet", "ReplicaSet"}
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# kinds whose names must be DNS-1035 / DNS-1123 labels rather than subdomains
DNS1035_KINDS = {"Service"}
DNS1123_LABEL_KINDS = {"Namespace"}


def oid(o: Obj) -> str:
    md = o.get("metadata", {})
    ns = md.get("namespace")
    return f"{o.get('kind')}/{(ns + '/') if ns else ''}{md.get('name')}"


def ns_of(o: Obj) -> str | None:
    return o.get("metadata", {}).get("namespace")


def pod_template(o: Obj) -> Obj | None:
    if o.get("kind") in WORKLOAD_KINDS:
        return o.get("spec", {}).get("template")
    return None


def workloads(objs: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for o in objs:
        t = pod_template(o)
        if t is not None:
            yield o, t


def matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A LabelSelector ({matchLabels, matchExpressions}) or a plain map (Service selector)."""
    if not selector:
        return False
    if "matchLabels" in selector or "matchExpressions" in selector:
        ml, exprs = selector.get("matchLabels") or {}, selector.get("matchExpressions") or []
    else:
        ml, exprs = selector, []
    if any(labels.get(k) != v for k, v in ml.items()):
        return False
    for e in exprs:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def selected(objs: list[Obj], selector: Obj | None, ns: str | None) -> list[tuple[Obj, Obj]]:
    return [
        (w, t)
        for w, t in workloads(objs)
        if ns_of(w) == ns and matches(selector, t.get("metadata", {}).get("labels") or {})
    ]


# --- quantities ---------------------------------------------------------------------------

_SUFFIX = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


def quantity(value: Any) -> Decimal:
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"bad quantity {value!r}")
    return Decimal(m.group(1)) * Decimal(_SUFFIX[m.group(2)])


def extended(resource: str) -> bool:
    return "/" in resource and not resource.startswith(("kubernetes.io/", "requests."))


# --- the checks ----------------------------------------------------------------------------


def check_all(objs: list[Obj]) -> list[str]:
    errors: list[str] = []
    for check in (
        check_names,
        check_unique,
        check_workloads,
        check_services,
        check_pdbs,
        check_hpas,
        check_network_policies,
        check_service_monitors,
        check_pod_security,
    ):
        errors += check(objs)
    return errors


def check_names(objs: list[Obj]) -> list[str]:
    errs = []
    for o in objs:
        md, kind = o.get("metadata", {}), o.get("kind", "")
        name = md.get("name", "")
        rule, pattern, limit = (
            ("DNS-1035 label", DNS1035_LABEL, 63)
            if kind in DNS1035_KINDS
            else ("DNS-1123 label", DNS1123_LABEL, 63)
            if kind in DNS1123_LABEL_KINDS
            else ("DNS-1123 subdomain", DNS1123_SUBDOMAIN, 253)
        )
        if not pattern.match(name) or len(name) > limit:
            errs.append(f"{oid(o)}: name {name!r} is not a valid {rule}")
        label_sets = [("metadata", md.get("labels") or {})]
        t = pod_template(o)
        if t:
            label_sets.append(("template", t.get("metadata", {}).get("labels") or {}))
        for where, labels in label_sets:
            for k, v in labels.items():
                errs += [f"{oid(o)}: {where} label {k}={v!r}: {e}" for e in label_errors(k, v)]
        if kind == "ConfigMap":
            errs += [
                f"{oid(o)}: bad data key {k!r}"
                for k in o.get("data") or {}
                if not CONFIG_KEY.match(k)
            ]
        if t:
            errs += [f"{oid(o)}: {e}" for e in pod_name_errors(t.get("spec", {}))]
        if kind == "Service":
            for p in o.get("spec", {}).get("ports") or []:
                if "name" in p and not DNS1123_LABEL.match(p["name"]):
                    errs.append(f"{oid(o)}: port name {p['name']!r} is not a DNS-1123 label")
    return errs


def label_errors(key: str, value: str) -> list[str]:
    errs = []
    prefix, _, name = key.rpartition("/")
    if prefix and (not DNS1123_SUBDOMAIN.match(prefix) or len(prefix) > 253):
        errs.append(f"label key prefix {prefix!r} is not a DNS subdomain")
    if not LABEL_NAME.match(name) or len(name) > 63:
        errs.append(f"label key name {name!r} is invalid")
    if value and (not LABEL_NAME.match(value) or len(value) > 63):
        errs.append(f"label value {value!r} is invalid")
    return errs


def port_name_ok(name: str) -> bool:
    return (
        len(name) <= 15
        and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", name) is not None
        and "--" not in name
        and re.search(r"[a-z]", name) is not None
    )


def pod_name_errors(spec: Obj) -> list[str]:
    errs = []
    volumes = {v["name"] for v in spec.get("volumes") or []}
    errs += [
        f"volume name {v!r} is not a DNS-1123 label" for v in volumes if not DNS1123_LABEL.match(v)
    ]
    for c in containers(spec):
        cname = c.get("name", "")
        if not DNS1123_LABEL.match(cname):
            errs.append(f"container name {cname!r} is not a DNS-1123 label")
        names = [p["name"] for p in c.get("ports") or [] if "name" in p]
        errs += [
            f"container {cname}: port name {n!r} invalid" for n in names if not port_name_ok(n)
        ]
        if len(names) != len(set(names)):
            errs.append(f"container {cname}: duplicate port names {names}")
        errs += [
            f"container {cname}: env name {e['name']!r} invalid"
            for e in c.get("env") or []
            if not ENV_NAME.match(e["name"])
        ]
        errs += [
            f"container {cname}: volumeMount {m['name']!r} names no volume"
            for m in c.get("volumeMounts") or []
            if m["name"] not in volumes
        ]
    return errs


def containers(spec: Obj) -> list[Obj]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def check_unique(objs: list[Obj]) -> list[str]:
    seen: dict[tuple[str, str, str | None, str], int] = {}
    for o in objs:
        group = o.get("apiVersion", "").rpartition("/")[0]
        key = (group, o.get("kind", ""), ns_of(o), o.get("metadata", {}).get("name", ""))
        seen[key] = seen.get(key, 0) + 1
    return [f"{k[1]}/{k[3]} (namespace {k[2]}) defined {n} times" for k, n in seen.items() if n > 1]


def check_workloads(objs: list[Obj]) -> list[str]:
    errs = []
    by_kind = {(o["kind"], ns_of(o), o["metadata"]["name"]) for o in objs}
    config_maps = {
        (ns_of(o), o["metadata"]["name"]): o.get("data") or {}
        for o in objs
        if o["kind"] == "ConfigMap"
    }
    wl = list(workloads(objs))
    for w, t in wl:
        spec, labels = w.get("spec", {}), t.get("metadata", {}).get("labels") or {}
        sel = spec.get("selector")
        if w["kind"] != "Job" and not sel:
            errs.append(f"{oid(w)}: no selector")
        elif sel and not matches(sel, labels):
            errs.append(f"{oid(w)}: selector {sel} does not match the pod template labels {labels}")
        for other, ot in wl:
            if (
                other is not w
                and ns_of(other) == ns_of(w)
                and sel
                and matches(sel, ot["metadata"].get("labels") or {})
            ):
                errs.append(f"{oid(w)}: selector also matches the pods of {oid(other)}")
        pspec = t.get("spec", {})
        sa = pspec.get("serviceAccountName")
        if sa and sa != "default" and ("ServiceAccount", ns_of(w), sa) not in by_kind:
            errs.append(f"{oid(w)}: serviceAccountName {sa!r} is not defined")
        for tsc in pspec.get("topologySpreadConstraints") or []:
            if not matches(tsc.get("labelSelector"), labels):
                errs.append(
                    f"{oid(w)}: topologySpreadConstraint selector does not match its own pods"
                )
        for v in pspec.get("volumes") or []:
            ref = (v.get("configMap") or {}).get("name")
            if ref and (ns_of(w), ref) not in config_maps and not v["configMap"].get("optional"):
                errs.append(f"{oid(w)}: volume {v['name']} names missing ConfigMap {ref}")
        for c in containers(pspec):
            errs += [
                f"{oid(w)} container {c['name']}: {e}"
                for e in container_errors(c, pspec, config_maps, ns_of(w))
            ]
    return errs


def container_errors(c: Obj, pspec: Obj, config_maps: dict[Any, Obj], ns: str | None) -> list[str]:
    errs = []
    ports = {p["containerPort"] for p in c.get("ports") or []}
    names = {p["name"] for p in c.get("ports") or [] if "name" in p}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = c.get(kind) or {}
        for action in ("httpGet", "tcpSocket", "grpc"):
            port = (probe.get(action) or {}).get("port")
            if port is not None and port not in (names if isinstance(port, str) else ports):
                errs.append(f"{kind} port {port!r} is not a port of the container")
    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    for r, v in req.items():
        if r in lim and quantity(v) > quantity(lim[r]):
            errs.append(f"request {r}={v} exceeds its limit {lim[r]}")
        if extended(r) and (r not in lim or quantity(v) != quantity(lim[r])):
            errs.append(f"extended resource {r}: request {v} must equal the limit {lim.get(r)}")
    for r, v in lim.items():
        if extended(r) and quantity(v) != int(quantity(v)):
            errs.append(f"extended resource {r}: {v} is not a whole number")
    cnames = {x["name"] for x in containers(pspec)}
    for e in c.get("env") or []:
        vf = e.get("valueFrom") or {}
        rf = vf.get("resourceFieldRef")
        if rf and rf.get("containerName", c["name"]) not in cnames:
            errs.append(f"env {e['name']}: resourceFieldRef names no container")
        cmk = vf.get("configMapKeyRef")
        if cmk and not cmk.get("optional"):
            data = config_maps.get((ns, cmk["name"]))
            if data is None or cmk["key"] not in data:
                errs.append(f"env {e['name']}: ConfigMap {cmk['name']} key {cmk['key']} missing")
    for ef in c.get("envFrom") or []:
        ref = (ef.get("configMapRef") or {}).get("name")
        if ref and (ns, ref) not in config_maps and not ef["configMapRef"].get("optional"):
            errs.append(f"envFrom names missing ConfigMap {ref}")
    return errs


def check_services(objs: list[Obj]) -> list[str]:
    errs = []
    for s in (o for o in objs if o["kind"] == "Service"):
        sel = s.get("spec", {}).get("selector")
        if not sel:
            continue  # selector-less Services (manual endpoints) are legal
        pods = selected(objs, sel, ns_of(s))
        if not pods:
            errs.append(f"{oid(s)}: selector {sel} matches no pod template")
        for p in s["spec"].get("ports") or []:
            target = p.get("targetPort", p["port"])
            for w, t in pods:
                cs = t["spec"]["containers"]
                have = {x.get("name") for c in cs for x in c.get("ports") or []} | {
                    x["containerPort"] for c in cs for x in c.get("ports") or []
                }
                if target not in have:
                    errs.append(f"{oid(s)}: targetPort {target!r} is not a port of {oid(w)}")
    return errs


def check_pdbs(objs: list[Obj]) -> list[str]:
    errs = []
    for p in (o for o in objs if o["kind"] == "PodDisruptionBudget"):
        spec = p.get("spec", {})
        if ("minAvailable" in spec) == ("maxUnavailable" in spec):
            errs.append(f"{oid(p)}: set exactly one of minAvailable / maxUnavailable")
        if not selected(objs, spec.get("selector"), ns_of(p)):
            errs.append(f"{oid(p)}: selector matches no pod template")
    return errs


def check_hpas(objs: list[Obj]) -> list[str]:
    errs = []
    for h in (o for o in objs if o["kind"] == "HorizontalPodAutoscaler"):
        spec = h.get("spec", {})
        ref = spec.get("scaleTargetRef", {})
        target = next(
            (
                o
                for o in objs
                if o["kind"] == ref.get("kind")
                and ns_of(o) == ns_of(h)
                and o["metadata"]["name"] == ref.get("name")
            ),
            None,
        )
        if target is None:
            errs.append(
                f"{oid(h)}: scaleTargetRef {ref.get('kind')}/{ref.get('name')} is not defined"
            )
        elif target["kind"] not in SCALABLE_KINDS or target.get("apiVersion") != ref.get(
            "apiVersion"
        ):
            errs.append(f"{oid(h)}: scaleTargetRef {ref} names no scalable object")
        elif "replicas" in target.get("spec", {}):
            errs.append(
                f"{oid(h)}: target {oid(target)} sets spec.replicas (applies reset the HPA)"
            )
        lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
        if not 1 <= lo <= hi:
            errs.append(f"{oid(h)}: need 1 <= minReplicas ({lo}) <= maxReplicas ({hi})")
        if not spec.get("metrics"):
            errs.append(f"{oid(h)}: no metrics")
        for m in spec.get("metrics") or []:
            errs += [f"{oid(h)}: {e}" for e in hpa_metric_errors(m, target)]
    return errs


def hpa_metric_errors(m: Obj, target: Obj | None) -> list[str]:
    mtype = m.get("type", "")
    body = m.get(
        {
            "Resource": "resource",
            "ContainerResource": "containerResource",
            "Pods": "pods",
            "Object": "object",
            "External": "external",
        }.get(mtype, ""),
        {},
    )
    goal = body.get("target", {})
    allowed = {
        "Resource": {"Utilization", "AverageValue"},
        "ContainerResource": {"Utilization", "AverageValue"},
        "Pods": {"AverageValue"},
        "Object": {"Value", "AverageValue"},
        "External": {"Value", "AverageValue"},
    }.get(mtype)
    if allowed is None or not body:
        return [f"metric type {mtype!r} without its {mtype.lower()} block"]
    errs = []
    ttype = goal.get("type")
    if ttype not in allowed:
        errs.append(f"{mtype} metric target type {ttype!r} not allowed (use {sorted(allowed)})")
    field = {
        "Utilization": "averageUtilization",
        "AverageValue": "averageValue",
        "Value": "value",
    }.get(ttype or "")
    if field and field not in goal:
        errs.append(f"{mtype} metric target {ttype} without {field}")
    if ttype == "Utilization" and target is not None:
        name = body.get("name")
        for c in target["spec"]["template"]["spec"]["containers"]:
            if name not in (c.get("resources") or {}).get("requests", {}):
                errs.append(f"Utilization of {name}: container {c['name']} requests no {name}")
    return errs


def check_network_policies(objs: list[Obj]) -> list[str]:
    errs = []
    for n in (o for o in objs if o["kind"] == "NetworkPolicy"):
        spec = n.get("spec", {})
        pods = selected(objs, spec.get("podSelector"), ns_of(n))
        if not pods:
            errs.append(f"{oid(n)}: podSelector matches no pod template")
        for rule in spec.get("ingress") or []:
            for peer in rule.get("from") or []:
                if (
                    peer.get("podSelector")  # {}: every pod of the namespace
                    and "namespaceSelector" not in peer
                    and not selected(objs, peer["podSelector"], ns_of(n))
                ):
                    errs.append(f"{oid(n)}: ingress from podSelector matches no pod template")
            for p in rule.get("ports") or []:
                if isinstance(p.get("port"), str):
                    for w, t in pods:
                        if p["port"] not in {
                            x.get("name")
                            for c in t["spec"]["containers"]
                            for x in c.get("ports") or []
                        }:
                            errs.append(f"{oid(n)}: named port {p['port']!r} not in {oid(w)}")
    return errs


def check_service_monitors(objs: list[Obj]) -> list[str]:
    errs = []
    scraped: dict[str, int] = {}
    for sm in (o for o in objs if o["kind"] == "ServiceMonitor"):
        spec = sm.get("spec", {})
        if spec.get("namespaceSelector"):
            continue
        services = [
            s
            for s in objs
            if s["kind"] == "Service"
            and ns_of(s) == ns_of(sm)
            and matches(spec.get("selector"), s["metadata"].get("labels") or {})
        ]
        if not services:
            errs.append(f"{oid(sm)}: selector matches no Service")
        for s in services:
            names = {p.get("name") for p in s["spec"].get("ports") or []}
            for ep in spec.get("endpoints") or []:
                if "port" in ep and ep["port"] not in names:
                    errs.append(
                        f"{oid(sm)}: endpoint port {ep['port']!r} is not a port name of {oid(s)}"
                    )
            for w, t in selected(objs, s["spec"].get("selector"), ns_of(s)):
                scraped[oid(w)] = scraped.get(oid(w), 0) + 1
                labels = t["metadata"].get("labels") or {}
                errs += [
                    f"{oid(sm)}: podTargetLabel {k!r} missing on {oid(w)}"
                    for k in spec.get("podTargetLabels") or []
                    if k not in labels
                ]
    errs += [
        f"{w}: scraped {n} times (several monitored Services select it)"
        for w, n in scraped.items()
        if n > 1
    ]
    return errs


def check_pod_security(objs: list[Obj]) -> list[str]:
    """The "restricted" Pod Security Standard, plus a read-only root filesystem."""
    errs = []
    for w, t in workloads(objs):
        spec = t.get("spec", {})
        psc = spec.get("securityContext") or {}
        if any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")):
            errs.append(f"{oid(w)}: host namespaces")
        errs += [
            f"{oid(w)}: hostPath volume {v['name']}"
            for v in spec.get("volumes") or []
            if "hostPath" in v
        ]
        for c in containers(spec):
            sc = c.get("securityContext") or {}
            where = f"{oid(w)} container {c['name']}"
            if not sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
                errs.append(f"{where}: runAsNonRoot is not true")
            if sc.get("runAsUser", psc.get("runAsUser")) == 0:
                errs.append(f"{where}: runs as uid 0")
            if sc.get("allowPrivilegeEscalation") is not False:
                errs.append(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                errs.append(f"{where}: privileged")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                errs.append(f"{where}: capabilities do not drop ALL")
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                errs.append(f"{where}: seccompProfile is {seccomp!r}")
            if sc.get("readOnlyRootFilesystem") is not True:
                errs.append(f"{where}: root filesystem is writable")
    return errs


# --- this service's own rules --------------------------------------------------------------


def ocr_containers(objs: list[Obj]) -> Iterator[tuple[Obj, Obj, Obj]]:
    """(workload, pod spec, container) for every container configured with OCR_ settings."""
    for w, t in workloads(objs):
        spec = t["spec"]
        for c in spec.get("containers") or []:
            if any(e["name"].startswith("OCR_") for e in c.get("env") or []) or c.get("envFrom"):
                yield w, spec, c


def effective_env(objs: list[Obj], w: Obj, c: Obj) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env (wins).
    Downward-API CPU values are computed; values of rendered Secrets are decoded, those of
    Secrets made out of band (managed Redis) become a placeholder."""
    config_maps = {
        o["metadata"]["name"]: o.get("data") or {}
        for o in objs
        if o["kind"] == "ConfigMap" and ns_of(o) == ns_of(w)
    }
    secrets = {
        o["metadata"]["name"]: {
            k: base64.b64decode(v).decode() for k, v in (o.get("data") or {}).items()
        }
        for o in objs
        if o["kind"] == "Secret" and ns_of(o) == ns_of(w)
    }
    env: dict[str, str] = {}
    for ef in c.get("envFrom") or []:
        ref = (ef.get("configMapRef") or {}).get("name")
        env.update({(ef.get("prefix") or "") + k: v for k, v in config_maps.get(ref, {}).items()})
    for e in c.get("env") or []:
        vf = e.get("valueFrom") or {}
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "resourceFieldRef" in vf:
            env[e["name"]] = str(resource_field(vf["resourceFieldRef"], c))
        elif "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            placeholder = "redis://from-secret.invalid:6379/0"
            env[e["name"]] = secrets.get(ref["name"], {}).get(ref["key"], placeholder)
        elif "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            env[e["name"]] = config_maps.get(ref["name"], {}).get(ref["key"], "")
    return env


def from_secret(c: Obj, name: str) -> bool:
    """The container's env takes ``name`` from a Secret (env wins over any envFrom)."""
    return any(
        e["name"] == name and "secretKeyRef" in (e.get("valueFrom") or {})
        for e in c.get("env") or []
    )


def resource_field(ref: Obj, c: Obj) -> int:
    """What the kubelet puts in the variable: ceil(value / divisor)."""
    section, _, name = ref["resource"].partition(".")
    value = (c.get("resources") or {}).get(section, {}).get(name)
    if value is None:
        raise ValueError(f"{ref['resource']} is not set on container {c['name']}")
    return math.ceil(quantity(value) / quantity(ref.get("divisor", "1")))


def cpu_limit_cores(c: Obj) -> int | None:
    lim = ((c.get("resources") or {}).get("limits") or {}).get("cpu")
    return None if lim is None else math.ceil(quantity(lim))


def prestop_seconds(c: Obj) -> int:
    pre = (c.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre:
        return int(pre["sleep"]["seconds"])
    cmd = (pre.get("exec") or {}).get("command") or []
    if len(cmd) == 2 and cmd[0].endswith("sleep"):
        return int(cmd[1])
    return 0


# None = the catalogue bundled in the image; no TensorRT engine cache (set by the gpu overlay)
ALLOWED_UNSET = {"catalogue", "ort_trt_cache_dir", "datasets_dir"}  # datasets: `ocr eval` only


def check_ocr(objs: list[Obj]) -> list[str]:
    """This service's rules for every container configured with OCR_ settings."""
    from pydantic import ValidationError

    from service.settings import Settings

    errs = []
    fields = Settings.model_fields
    for w, spec, c in ocr_containers(objs):
        where = f"{oid(w)} container {c['name']}"
        if spec.get("enableServiceLinks") is not False:
            errs.append(
                f"{where}: enableServiceLinks must be false (a Service `ocr` injects OCR_PORT=tcp://...)"
            )
        try:
            env = effective_env(objs, w, c)
        except ValueError as exc:
            errs.append(f"{where}: {exc}")
            continue
        if not from_secret(c, "OCR_API_KEYS"):
            errs.append(f"{where}: OCR_API_KEYS must come from a Secret (env secretKeyRef)")
        ocr = {k[4:].lower(): v for k, v in env.items() if k.startswith("OCR_")}
        errs += [
            f"{where}: OCR_{k.upper()} is not a setting of service/settings.py"
            for k in ocr
            if k not in fields
        ]
        missing = sorted(set(fields) - set(ocr) - ALLOWED_UNSET)
        if missing:
            names = ", ".join("OCR_" + m.upper() for m in missing)
            errs.append(f"{where}: settings not configured: {names}")
        try:
            s = Settings.model_validate({k: v for k, v in ocr.items() if k in fields})
        except ValidationError as exc:
            errs.append(f"{where}: settings do not validate: {exc}")
            continue
        if s.ort_trt_cache_dir is not None:  # the root filesystem is read-only
            mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
            cache = str(s.ort_trt_cache_dir)
            if not any(cache == m or cache.startswith(m.rstrip("/") + "/") for m in mounts):
                errs.append(f"{where}: OCR_ORT_TRT_CACHE_DIR={cache} is not on a mounted volume")
        cores = cpu_limit_cores(c)
        if cores is None:
            errs.append(f"{where}: no CPU limit")
        else:
            for name in ("intra_op_threads", "cpu_workers"):
                if getattr(s, name) != cores:
                    value = getattr(s, name)
                    errs.append(f"{where}: OCR_{name.upper()}={value}, CPU limit {cores} cores")
        grace = spec.get("terminationGracePeriodSeconds", 30)
        need = prestop_seconds(c) + s.shutdown_delay_s + s.drain_timeout_s
        if not grace > need:
            errs.append(
                f"{where}: terminationGracePeriodSeconds {grace} <= preStop sleep"
                f" {prestop_seconds(c)} + OCR_SHUTDOWN_DELAY_S {s.shutdown_delay_s}"
                f" + OCR_DRAIN_TIMEOUT_S {s.drain_timeout_s}"
            )
        if s.drain_timeout_s < s.request_timeout_s:
            errs.append(
                f"{where}: OCR_DRAIN_TIMEOUT_S < OCR_REQUEST_TIMEOUT_S cuts accepted requests short"
            )
        if s.host != "0.0.0.0":
            errs.append(f"{where}: OCR_HOST={s.host} is unreachable from outside the pod")
        if s.port not in {p["containerPort"] for p in c.get("ports") or []}:
            errs.append(f"{where}: OCR_PORT={s.port} is not a containerPort")
        paths = {
            k: ((c.get(k) or {}).get("httpGet") or {}).get("path")
            for k in ("startupProbe", "readinessProbe", "livenessProbe")
        }
        if paths != {
            "startupProbe": "/readyz",
            "readinessProbe": "/readyz",
            "livenessProbe": "/livez",
        }:
            errs.append(
                f"{where}: probes {paths}: want startup+readiness on /readyz, liveness on /livez"
            )
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        tmp = [m for m in c.get("volumeMounts") or [] if m["mountPath"] == "/tmp"]
        if not tmp or "emptyDir" not in vols.get(tmp[0]["name"], {}):
            errs.append(f"{where}: no writable emptyDir on /tmp (the root filesystem is read-only)")
    return errs
