"""The Kubernetes manifests (ops/k8s): every resource of the base and of the GPU overlay
validates against Kubernetes' own schemas (kubernetes-validate, strict: no unknown fields), and
the KEDA ScaledObject against KEDA's CRD schema (tests/data/keda, from kedacore/keda). The
overlay is rendered here as kustomize would for what it uses (images, strategic-merge patches
of Deployments by container name, CRD patches replacing lists)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "ops" / "k8s"
KEDA_CRD = Path(__file__).resolve().parents[1] / "data" / "keda" / "keda.sh_scaledobjects.yaml"
KUBERNETES = "1.33"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _merge(base: Any, patch: Any, crd: bool) -> Any:
    """Strategic merge for what these patches use: maps merge, lists of named items merge by
    name (containers), other lists (and every list of a CRD) are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value, crd) if key in base else value
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and not crd
        and all(isinstance(item, dict) and "name" in item for item in base + patch)
    ):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            by_name[item["name"]] = (
                _merge(by_name[item["name"]], item, crd) if item["name"] in by_name else item
            )
        return list(by_name.values())
    return patch


def render(folder: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize folder` gives, for the features these files use."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        target = folder / entry
        resources += render(target) if target.is_dir() else _docs(target)
    for image in kustomization.get("images", []):
        for resource in resources:
            for container in _containers(resource):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = f"{image['newName']}:{image['newTag']}"
    for patch_entry in kustomization.get("patches", []):
        patch = _docs(folder / patch_entry["path"])[0]
        key = (patch["kind"], patch["metadata"]["name"])
        index = next(i for i, r in enumerate(resources) if (r["kind"], r["metadata"]["name"]) == key)
        resources[index] = _merge(resources[index], patch, crd="keda.sh" in patch["apiVersion"])
    return copy.deepcopy(resources)


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _keda_schema() -> dict[str, Any]:
    crd = yaml.safe_load(KEDA_CRD.read_text(encoding="utf-8"))
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize("folder", ["base", "overlays/gpu"])
def test_every_resource_validates_against_its_schema(folder: str):
    resources = render(K8S / folder)
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources}
    assert {
        ("Deployment", "babelq-api"),
        ("Service", "babelq-api"),
        ("PodDisruptionBudget", "babelq-api"),
        ("Deployment", "babelq-worker"),
        ("Job", "babelq-migrate"),
        ("Deployment", "babelq-flower"),
        ("ScaledObject", "babelq-worker"),
        ("ConfigMap", "babelq-config"),
        ("NetworkPolicy", "babelq-default-deny-ingress"),
    } <= kinds
    for resource in resources:
        if resource["apiVersion"].startswith("keda.sh/"):
            jsonschema.validate(resource, _keda_schema())
        else:
            kubernetes_validate.validate(resource, KUBERNETES, strict=True)


STORE_URLS = {"BABELQ_BROKER_URL", "BABELQ_DATABASE_URL", "BABELQ_REDIS_URL"}
SECRETS_USED = {
    "api": STORE_URLS | {"BABELQ_SECRET_KEY"},
    "worker": STORE_URLS,
    "model": set(),
    "deliverer": STORE_URLS,
    "flower": {"BABELQ_BROKER_URL", "BABELQ_FLOWER_BASIC_AUTH"},
    "migrate": {"BABELQ_DATABASE_URL"},
}


def _pods(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] in ("Deployment", "Job")]


def _secret_keys(container: dict[str, Any]) -> set[str]:
    refs = [item.get("valueFrom", {}).get("secretKeyRef") for item in container.get("env", [])]
    assert not [source for source in container.get("envFrom", []) if "secretRef" in source]  # not all of it
    return {ref["key"] for ref in refs if ref is not None}


def test_secrets_are_referenced_never_written():
    resources = render(K8S / "base")
    assert not [r for r in resources if r["kind"] == "Secret"]


@pytest.mark.parametrize("folder", ["base", "overlays/gpu"])
def test_each_container_gets_only_the_secret_keys_it_uses(folder: str):
    containers = [container for pod in _pods(render(K8S / folder)) for container in _containers(pod)]
    assert {c["name"] for c in containers} == set(SECRETS_USED)
    for container in containers:
        assert _secret_keys(container) == SECRETS_USED[container["name"]], container["name"]


@pytest.mark.parametrize("folder", ["base", "overlays/gpu"])
def test_every_pod_runs_as_non_root_on_a_read_only_root_with_nothing_to_escalate(folder: str):
    for pod in _pods(render(K8S / folder)):
        spec = pod["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        writable = {volume["name"] for volume in spec["volumes"] if "emptyDir" in volume}
        for container in _containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            mounted = {mount["mountPath"] for mount in container["volumeMounts"] if mount["name"] in writable}
            assert {"/tmp", "/app/var", "/home/babelq"} <= mounted, container["name"]  # where it writes


def test_only_the_api_is_reachable_from_outside():
    policies = {
        r["metadata"]["name"]: r["spec"] for r in render(K8S / "base") if r["kind"] == "NetworkPolicy"
    }
    deny = policies.pop("babelq-default-deny-ingress")
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}  # every pod, no rule: nothing in
    from_anywhere = [
        spec for spec in policies.values() if any("from" not in rule for rule in spec["ingress"])
    ]
    assert [spec["podSelector"] for spec in from_anywhere] == [
        {"matchLabels": {"app.kubernetes.io/name": "babelq-api"}}
    ]
    scrape = policies["babelq-prometheus-scrape"]["ingress"][0]
    assert [peer.keys() for peer in scrape["from"]] == [{"namespaceSelector": None}.keys()]


def test_gpu_workers_ask_for_one_gpu_each_and_cpu_workers_for_none():
    def worker(folder: str) -> dict[str, Any]:
        resources = render(K8S / folder)
        deployment = next(
            r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == "babelq-worker"
        )
        return next(c for c in _containers(deployment) if c["name"] == "worker")

    gpu, cpu = worker("overlays/gpu"), worker("base")
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1 and gpu["image"].endswith(":latest-cuda")
    assert "nvidia.com/gpu" not in str(cpu["resources"]) and cpu["args"][-1] == "none"


def test_keda_scales_on_true_depth_and_load_with_the_ten_minute_rule_and_the_2200_release():
    for folder in ("base", "overlays/gpu"):
        scaled = next(r for r in render(K8S / folder) if r["kind"] == "ScaledObject")
        triggers = {t["name"]: t for t in scaled["spec"]["triggers"]}
        assert "babelq_queue_messages" in triggers["depth"]["metadata"]["query"]  # ready + unacked
        assert "max by (queue, state)" in triggers["depth"]["metadata"]["query"]  # once, not per API
        assert "babelq_jobs_accepted_total" in triggers["load"]["metadata"]["query"]
        assert "babelq_jobs_in_flight" in triggers["in-flight"]["metadata"]["query"]
        cron = triggers["daytime-floor"]["metadata"]
        assert cron["end"].split()[:2] == ["0", "22"] and len(cron["start"].split()) == 5
        assert int(cron["desiredReplicas"]) >= scaled["spec"]["minReplicaCount"]
        behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 600
        assert behavior["scaleDown"]["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 600}]


def test_the_keda_schema_refuses_a_wrong_scaled_object():
    wrong = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "w"}, "triggers": [{"metadata": {}}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, _keda_schema())  # a trigger needs its type


def test_strict_validation_refuses_an_unknown_field():
    api = next(r for r in render(K8S / "base") if r["kind"] == "Deployment")
    api["spec"]["replica"] = 2  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, KUBERNETES, strict=True)
