"""prometheus-adapter rules of k8s/monitoring, rendered the way the adapter renders them.

For a Pods metric the HPA asks the custom-metrics API for the pods of its target; the adapter
(pkg/naming/metrics_query.go) then fills the rule's Go template with
  .Series         the series name matched by seriesQuery
  .LabelMatchers  the namespace matcher, then the pod matcher: pod="a" or pod=~"a|b"
                  (with each label name taken from resources.overrides)
  .GroupBy        the pod label
Only these three fields are supported here; anything else in a template is an error.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

TEMPLATE_FIELD = re.compile(r"<<\s*\.(\w+)\s*>>")


def rules(adapter_configmap: dict[str, Any]) -> list[dict[str, Any]]:
    return list(yaml.safe_load(adapter_configmap["data"]["config.yaml"])["rules"])


def external_rules(adapter_configmap: dict[str, Any]) -> list[dict[str, Any]]:
    return list(yaml.safe_load(adapter_configmap["data"]["config.yaml"]).get("externalRules", []))


def render_external(rule: dict[str, Any], namespace: str) -> str:
    """An External metric query as the adapter fills it for an HPA in ``namespace`` (no
    metric selector): .LabelMatchers is the namespace matcher only."""
    matcher = f'{resource_label(rule, "namespace")}="{namespace}"'
    values = {"Series": series_name(rule), "LabelMatchers": matcher}
    out = TEMPLATE_FIELD.sub(lambda m: values[m.group(1)], rule["metricsQuery"])
    if "<<" in out or ">>" in out:
        raise ValueError(f"unrendered template left in {out!r}")
    return out


def series_name(rule: dict[str, Any]) -> str:
    name = rule["seriesQuery"].split("{", 1)[0].strip().strip("'\"")
    if not name:
        raise ValueError(f"seriesQuery {rule['seriesQuery']!r} names no series")
    return name


def exposed_name(rule: dict[str, Any]) -> str:
    series = series_name(rule)
    spec = rule.get("name") or {}
    m = re.search(spec.get("matches", "^(.*)$"), series)
    if m is None:
        raise ValueError(f"name.matches {spec.get('matches')!r} does not match {series}")
    return m.expand(spec.get("as", r"\g<0>").replace("$1", r"\1").replace("${1}", r"\1"))


def resource_label(rule: dict[str, Any], resource: str) -> str:
    for label, target in (rule.get("resources") or {}).get("overrides", {}).items():
        if target.get("resource") in (resource, resource + "s") and not target.get("group"):
            return str(label)
    raise ValueError(f"rule for {series_name(rule)} maps no label to {resource}")


def render(rule: dict[str, Any], namespace: str, pods: list[str]) -> str:
    ns_label, pod_label = resource_label(rule, "namespace"), resource_label(rule, "pod")
    pod_matcher = (
        f'{pod_label}="{pods[0]}"' if len(pods) == 1 else f'{pod_label}=~"{"|".join(pods)}"'
    )
    values = {
        "Series": series_name(rule),
        "LabelMatchers": f'{ns_label}="{namespace}",{pod_matcher}',
        "GroupBy": pod_label,
    }

    def field(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise ValueError(f"template field .{m.group(1)} is not supported by this renderer")
        return values[m.group(1)]

    out = TEMPLATE_FIELD.sub(field, rule["metricsQuery"])
    if "<<" in out or ">>" in out:
        raise ValueError(f"unrendered template left in {out!r}")
    return out
