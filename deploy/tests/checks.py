"""The invariants every project overlay keeps, one function each, so the
same checks run on the committed projects and on ones new-project.sh writes."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import kubernetes_validate

from manifests import (
    ACCESS_SECRET,
    CLUSTER_SCOPED,
    K8S_VERSIONS,
    OUT_OF_BAND_SECRETS,
    PROCESS_MIB,
    PROJECT_LABEL,
    REQUEST_MIB,
    Rendered,
    STORAGE_SECRET,
    WI_CLIENT_ID,
    WI_USE,
    config_mount_path,
    container_port,
    gateway_ready_timeout_secs,
    image,
    listen_port,
    mebibytes,
    mounted_volume,
    referenced,
    selects,
    volume,
)


def check_schemas(r: Rendered) -> None:
    for doc in r.docs:
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def check_own_namespace(r: Rendered) -> None:
    namespaces = r.of_kind("Namespace")
    assert [n["metadata"]["name"] for n in namespaces] == [f"blobgate-{r.project}"]
    ns = namespaces[0]["metadata"]["name"]
    assert namespaces[0]["metadata"]["labels"][PROJECT_LABEL] == r.project
    for doc in r.docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == ns, f"{doc['kind']} {doc['metadata']['name']}"


def check_storage_wiring(r: Rendered) -> None:
    account = r.env_configmap().get("AZURE_STORAGE_ACCOUNT", "")
    assert re.fullmatch(r"[a-z0-9]{3,24}", account), f"{r.project}: storage account {account!r}"
    assert r.config_toml()["backend"] == "azure"
    # The account's credential: its key (or SAS) from the project's storage
    # Secret, or, with workload identity, Entra ID tokens of the project's
    # managed identity (and then no storage Secret).
    secret_refs = [e["secretRef"]["name"] for e in r.container.get("envFrom", []) if "secretRef" in e]
    client_id = r.one("ServiceAccount")["metadata"].get("annotations", {}).get(WI_CLIENT_ID)
    if client_id is None:
        assert secret_refs == [STORAGE_SECRET], secret_refs
        assert WI_USE not in r.pod["metadata"]["labels"]
    else:
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", client_id), client_id
        assert r.pod["metadata"]["labels"].get(WI_USE) == "true"
        assert secret_refs == [], secret_refs
    # Every Secret referenced is one of the out-of-band ones; every ConfigMap
    # referenced is in the output (kustomize renamed references to the hashed
    # names, so a stale reference would not match).
    for ref in referenced(r, "secret"):
        assert ref in OUT_OF_BAND_SECRETS, f"{r.project}: unexpected secret {ref}"
    generated = {cm["metadata"]["name"] for cm in r.of_kind("ConfigMap")}
    for ref in referenced(r, "configMap"):
        assert ref in generated, f"{r.project}: ConfigMap {ref} is not in the output"


SENSITIVE_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CONNECTION_STRING|CREDENTIAL", re.I)
# What a secret value looks like: an Azure account key (64 bytes, base64), a
# SAS signature, a connection string's key, a users file's inline secret.
SECRET_VALUE = re.compile(
    r"[A-Za-z0-9+/]{80,}={0,2}|AccountKey=|SharedAccessSignature=|[?&]sig=|\"secret_key\"\s*:"
)


def check_no_secret_values(r: Rendered) -> None:
    assert not r.of_kind("Secret"), "secrets are created out of band, never rendered"
    for e in r.container.get("env", []):
        if SENSITIVE_NAME.search(e["name"]):
            assert "value" not in e, f"{e['name']} has a literal value"
    for cm in r.of_kind("ConfigMap"):
        for k, v in cm.get("data", {}).items():
            assert not SECRET_VALUE.search(v), f"ConfigMap {cm['metadata']['name']} {k}"


def check_pod_security(r: Rendered) -> None:
    pod_sc = r.pod["spec"].get("securityContext", {})
    sc = {**pod_sc, **r.container.get("securityContext", {})}
    assert sc.get("runAsNonRoot") is True
    assert sc.get("runAsUser", 0) != 0 and sc.get("runAsGroup", 0) != 0
    assert sc.get("allowPrivilegeEscalation") is False
    assert sc.get("readOnlyRootFilesystem") is True
    assert sc.get("capabilities", {}).get("drop") == ["ALL"]
    assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    assert r.pod["spec"].get("automountServiceAccountToken") is False
    assert r.one("ServiceAccount")["metadata"]["name"] == r.pod["spec"]["serviceAccountName"]
    # A read-only root: the only writable places are volumes (/tmp here).
    for m in r.container["volumeMounts"]:
        v = volume(r, m["name"])
        assert m.get("readOnly") is True or "emptyDir" in v, m
    # The non-root user can read the mounted Secrets and ConfigMaps: their
    # files belong to fsGroup, the user's group, and the group may read them.
    assert pod_sc.get("fsGroup") == sc["runAsGroup"]
    for v in r.pod["spec"]["volumes"]:
        source = v.get("secret") or v.get("configMap")
        if source is not None:
            assert source.get("defaultMode", 0o644) & 0o040, f"volume {v['name']}: group cannot read"


def check_probes_and_resources(r: Rendered) -> None:
    c = r.container
    for probe, path in (("livenessProbe", "/-/health/live"), ("readinessProbe", "/-/health/ready")):
        get = c[probe]["httpGet"]
        assert get["path"] == path, (probe, get)
        assert container_port(r, get["port"]) == listen_port(r.config_toml())
    # Readiness asks the storage account, waiting up to the gateway's own
    # limit: the kubelet must wait longer, or a slow answer counts as a miss.
    assert c["readinessProbe"]["timeoutSeconds"] > gateway_ready_timeout_secs()
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            assert c["resources"][kind].get(resource), f"resources.{kind}.{resource}"
    # The cache and every request the gateway admits fit in the memory limit.
    config = r.config_toml()
    limit_mib = mebibytes(c["resources"]["limits"]["memory"])
    needed = PROCESS_MIB + config.get("cache_size_mib", 256) + config.get("max_requests", 1024) * REQUEST_MIB
    assert limit_mib >= needed, f"memory limit {limit_mib} MiB < {needed} MiB (cache + max_requests x {REQUEST_MIB})"


def check_availability(r: Rendered) -> None:
    labels = r.pod["metadata"]["labels"]
    dep = r.deployment
    assert dep["spec"]["replicas"] >= 2
    assert selects(dep["spec"]["selector"], labels)
    hpa = r.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep["metadata"]["name"]}
    assert 2 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    pdb = r.one("PodDisruptionBudget")["spec"]
    assert selects(pdb["selector"], labels)
    # One replica at a time, whatever the replica count; pods that are not
    # ready (the storage account unreachable) never block a node drain.
    assert pdb.get("maxUnavailable") == 1 and "minAvailable" not in pdb
    assert pdb.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
    svc = r.one("Service")["spec"]
    assert svc["selector"] == {k: labels[k] for k in svc["selector"]}
    for p in svc["ports"]:
        assert container_port(r, p["targetPort"]) == listen_port(r.config_toml())
    spread = r.pod["spec"]["topologySpreadConstraints"]
    assert {s["topologyKey"] for s in spread} >= {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(selects(s["labelSelector"], labels) for s in spread)
    # The pod gets the whole shutdown the gateway asks for (readiness 503,
    # then the grace for open requests) before the kubelet kills it.
    config = r.config_toml()
    needed = config.get("shutdown_delay_secs", 0) + config.get("shutdown_grace_secs", 30)
    assert r.pod["spec"]["terminationGracePeriodSeconds"] > needed


def check_network_policies(r: Rendered) -> None:
    labels = r.pod["metadata"]["labels"]
    port = listen_port(r.config_toml())
    policies = r.of_kind("NetworkPolicy")
    assert policies
    for pol in policies:
        assert selects(pol["spec"]["podSelector"], labels)
        for rule in pol["spec"]["ingress"]:
            assert [p["port"] for p in rule["ports"]] == [port]
    clients = r.one("NetworkPolicy", "blobgate-clients")["spec"]["ingress"]
    sources = [src for rule in clients for src in rule["from"]]
    # Only the project's namespaces, the gateway's own included.
    assert sources == [{"namespaceSelector": {"matchLabels": {PROJECT_LABEL: r.project}}}], sources
    assert r.one("Namespace")["metadata"]["labels"][PROJECT_LABEL] == r.project
    # And Prometheus, from the namespace labelled for it.
    scrapers = [src for rule in r.one("NetworkPolicy", "blobgate-metrics")["spec"]["ingress"] for src in rule["from"]]
    assert scrapers == [{"namespaceSelector": {"matchLabels": {"blobgate.io/scraper": "true"}}}], scrapers


def check_metrics_scrape(r: Rendered) -> None:
    ann = r.pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert int(ann["prometheus.io/port"]) == listen_port(r.config_toml())
    assert ann["prometheus.io/path"] == "/-/metrics"


def check_config_paths(r: Rendered) -> None:
    """Files the configuration names are where the pod mounts them."""
    config = r.config_toml()
    assert str(config_mount_path(r)) == image().env["BLOBGATE_CONFIG"]
    # The users file: the Secret's, or (an overlay with STS roles) its own
    # ConfigMap, named by BLOBGATE_USERS_FILE.
    users_path = r.env_configmap().get("BLOBGATE_USERS_FILE", config["users"])
    users = mounted_volume(r, users_path)
    if "configMap" in users:
        assert users["configMap"]["name"].startswith("blobgate-users"), users
        generated = r.configmap(users["configMap"]["name"])
        assert PurePosixPath(users_path).name in generated["data"], generated
    else:
        assert users.get("secret", {}).get("secretName") == ACCESS_SECRET
    # The STS key: a Secret's, never in a ConfigMap.
    sts_key = mounted_volume(r, config["sts_key_file"])
    assert sts_key.get("secret", {}).get("secretName") == ACCESS_SECRET
    for key in ("tls_cert", "tls_key"):
        if key in config:
            assert "secret" in mounted_volume(r, config[key])


def check_image(r: Rendered) -> None:
    img = r.container["image"]
    name, _, tag = img.rpartition(":")
    assert "/" in name and tag and tag != "latest", f"{img}: pin a registry image by tag"


CHECKS = [
    check_schemas,
    check_own_namespace,
    check_storage_wiring,
    check_no_secret_values,
    check_pod_security,
    check_probes_and_resources,
    check_availability,
    check_network_policies,
    check_metrics_scrape,
    check_config_paths,
    check_image,
]
