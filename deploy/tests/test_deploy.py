"""The Kubernetes manifests and the container image, checked as a reviewer
would: every project overlay renders with Debian's kubectl (kustomize v2),
validates strictly against the Kubernetes schemas of the versions AKS runs,
and keeps the deployment's invariants; the Dockerfile, the manifests and the
gateway binary agree on the binary's name, its port, its health and metrics
paths, its configuration path and its user; and the configurations the image
and the overlays ship are started with the real binary and probed the way
the kubelet and Prometheus would.

Run by deploy/tests/run.sh (which provides kubectl, the virtualenv, the
binary and Azurite).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import requests
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZE = DEPLOY / "kustomize"
PROJECTS = KUSTOMIZE / "projects"
DOCKERFILE = DEPLOY / "Dockerfile"
IMAGE_CONFIG = DEPLOY / "image" / "config.toml"
NEW_PROJECT = DEPLOY / "new-project.sh"

# Kubernetes versions to validate against: the oldest AKS still supports and
# the newest the validator knows.
K8S_VERSIONS = ["1.31.0", kubernetes_validate.latest_version()]

# Secrets the manifests refer to but never contain: each project's operators
# create them in its namespace (deploy/README.md).
STORAGE_SECRET = "blobgate-storage"
ACCESS_SECRET = "blobgate-access"
OUT_OF_BAND_SECRETS = {STORAGE_SECRET, ACCESS_SECRET}

PROJECT_LABEL = "blobgate.io/project"
# AKS workload identity: the ServiceAccount's annotation and the pods' label.
WI_CLIENT_ID = "azure.workload.identity/client-id"
WI_USE = "azure.workload.identity/use"
CLUSTER_SCOPED = {"Namespace"}


def kubectl() -> str:
    path = os.environ.get("BLOBGATE_KUBECTL")
    if not path:
        pytest.fail("BLOBGATE_KUBECTL is not set: run deploy/tests/run.sh", pytrace=False)
    return path


def gateway_binary() -> Path:
    path = Path(os.environ.get("BLOBGATE_BIN", ""))
    if not path.is_file():
        pytest.fail(f"BLOBGATE_BIN={path}: no gateway binary; run deploy/tests/run.sh", pytrace=False)
    return path


# ---------------------------------------------------------------- rendering


@dataclass
class Rendered:
    """One overlay as `kubectl kustomize` renders it."""

    project: str
    docs: list[dict]

    def of_kind(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict:
        found = [d for d in self.of_kind(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.project}: expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    @property
    def deployment(self) -> dict:
        return self.one("Deployment")

    @property
    def pod(self) -> dict:
        return self.deployment["spec"]["template"]

    @property
    def container(self) -> dict:
        containers = self.pod["spec"]["containers"]
        assert len(containers) == 1, containers
        return containers[0]

    def configmap(self, name: str) -> dict:
        """A ConfigMap by the name the manifests use (kustomize adds a hash)."""
        return self.one("ConfigMap", name)

    def config_toml(self) -> dict:
        cm = self.configmap(volume(self, "config")["configMap"]["name"])
        return tomllib.loads(cm["data"]["config.toml"])

    def env_configmap(self) -> dict:
        names = [e["configMapRef"]["name"] for e in self.container.get("envFrom", []) if "configMapRef" in e]
        assert len(names) == 1, names
        return self.configmap(names[0])["data"]


def render(overlay: Path) -> Rendered:
    out = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"kubectl kustomize {overlay} failed:\n{out.stderr}"
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    return Rendered(overlay.name, docs)


def project_dirs() -> list[Path]:
    return sorted(p for p in PROJECTS.iterdir() if (p / "kustomization.yaml").is_file())


@pytest.fixture(scope="module")
def all_rendered() -> dict[str, Rendered]:
    return {p.name: render(p) for p in project_dirs()}


@pytest.fixture(params=[p.name for p in project_dirs()])
def rendered(request, all_rendered) -> Rendered:
    return all_rendered[request.param]


def volume(r: Rendered, name: str) -> dict:
    found = [v for v in r.pod["spec"].get("volumes", []) if v["name"] == name]
    assert len(found) == 1, f"{r.project}: volume {name}"
    return found[0]


def container_port(r: Rendered, port) -> int:
    """A probe's or Service's port (a number or a container port's name) as a number."""
    ports = r.container["ports"]
    if isinstance(port, int):
        assert port in [p["containerPort"] for p in ports], f"port {port} is not a container port"
        return port
    named = [p["containerPort"] for p in ports if p.get("name") == port]
    assert named, f"no container port named {port!r}"
    return named[0]


def listen_port(config: dict) -> int:
    return int(config["listen"].rsplit(":", 1)[1])


def config_mount_path(r: Rendered) -> PurePosixPath:
    mounts = [m for m in r.container["volumeMounts"] if m["name"] == "config"]
    assert len(mounts) == 1, mounts
    return PurePosixPath(mounts[0]["mountPath"]) / "config.toml"


def mounted_volume(r: Rendered, path: str) -> dict:
    """The volume whose mount holds `path`."""
    p = PurePosixPath(path)
    for m in r.container["volumeMounts"]:
        if p == PurePosixPath(m["mountPath"]) or PurePosixPath(m["mountPath"]) in p.parents:
            return volume(r, m["name"])
    raise AssertionError(f"{r.project}: {path} is on no mounted volume")


# ------------------------------------------------- the overlays' invariants
#
# Each check takes one rendered overlay, so the same checks run on every
# committed project and on one that new-project.sh writes.


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


def referenced(r: Rendered, what: str) -> set[str]:
    """Names of Secrets (`secret`) or ConfigMaps (`configMap`) the pod uses."""
    refs = set()
    key = {"secret": ("secretRef", "secretKeyRef"), "configMap": ("configMapRef", "configMapKeyRef")}[what]
    for e in r.container.get("envFrom", []):
        if key[0] in e:
            refs.add(e[key[0]]["name"])
    for e in r.container.get("env", []):
        if key[1] in e.get("valueFrom", {}):
            refs.add(e["valueFrom"][key[1]]["name"])
    for v in r.pod["spec"].get("volumes", []):
        if what == "secret" and "secret" in v:
            refs.add(v["secret"]["secretName"])
        if what == "configMap" and "configMap" in v:
            refs.add(v["configMap"]["name"])
    return refs


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


# Memory a request in flight may hold: an upload to Azure buffers four 8 MiB
# blocks (benches/README.md, streaming memory over Azure); and the process
# without cache or requests, with a margin (S3 Select's DataFusion).
REQUEST_MIB = 32
PROCESS_MIB = 256


def gateway_ready_timeout_secs() -> int:
    """How long /-/health/ready waits for the storage account (the source's constant)."""
    source = (ROOT / "gateway/src/storage/azure/mod.rs").read_text()
    m = re.search(r"const READY_TIMEOUT: Duration = Duration::from_secs\((\d+)\);", source)
    assert m, "READY_TIMEOUT not found in the Azure backend"
    return int(m.group(1))


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", quantity)
    assert m and m.group(2) in units, quantity
    return float(m.group(1)) * units[m.group(2)]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


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
    users = mounted_volume(r, config["users"])
    assert users.get("secret", {}).get("secretName") == ACCESS_SECRET
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


def test_there_is_an_example_project():
    assert (PROJECTS / "example-project" / "kustomization.yaml").is_file()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_overlay(rendered, check):
    check(rendered)


def test_projects_are_apart(all_rendered):
    """No two projects share a namespace or a storage account."""
    namespaces = [r.one("Namespace")["metadata"]["name"] for r in all_rendered.values()]
    accounts = [r.env_configmap()["AZURE_STORAGE_ACCOUNT"] for r in all_rendered.values()]
    assert len(set(namespaces)) == len(namespaces), namespaces
    assert len(set(accounts)) == len(accounts), accounts


def test_validator_rejects_what_the_api_server_would(all_rendered):
    """The schema check is strict and has teeth: a typo'd field or a wrong
    type fails it."""
    dep = json.loads(json.dumps(next(iter(all_rendered.values())).deployment))
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[0], strict=True)
    dep = json.loads(json.dumps(next(iter(all_rendered.values())).deployment))
    dep["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[0], strict=True)


def test_no_secret_values_in_deploy_files():
    """Nothing under deploy/ carries a credential: not the Azurite key the
    tests use, nothing shaped like an account key or SAS."""
    azurite_key = os.environ.get("AZURITE_KEY", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq")
    for path in DEPLOY.rglob("*"):
        if path.is_file() and "tests" not in path.relative_to(DEPLOY).parts:
            text = path.read_text()
            assert azurite_key[:40] not in text, path
            assert not SECRET_VALUE.search(text), path


# ------------------------------------------------------------ new-project.sh


def run_new_project(kustomize_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(NEW_PROJECT), *args],
        env={**os.environ, "BLOBGATE_KUSTOMIZE_DIR": str(kustomize_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def kustomize_copy(tmp_path) -> Path:
    """deploy/kustomize without its projects, for new-project.sh to write into."""
    dst = tmp_path / "kustomize"
    shutil.copytree(KUSTOMIZE / "base", dst / "base")
    (dst / "projects").mkdir()
    return dst


def test_example_project_is_what_the_script_writes(kustomize_copy):
    out = run_new_project(kustomize_copy, "example-project", "stexampleproject")
    assert out.returncode == 0, out.stderr
    written = kustomize_copy / "projects" / "example-project"
    committed = PROJECTS / "example-project"
    assert sorted(p.name for p in written.iterdir()) == sorted(p.name for p in committed.iterdir())
    for p in written.iterdir():
        assert p.read_text() == (committed / p.name).read_text(), p.name


def test_one_project_upgrades_first_as_the_readme_says(kustomize_copy):
    """An overlay's `images:` entry, named as deploy/README.md says, changes
    that project's image only."""
    readme = (DEPLOY / "README.md").read_text()
    entry = re.search(r"```yaml\n(images:\n.*?)```", readme, re.S)
    assert entry, "deploy/README.md shows an images: entry"
    assert run_new_project(kustomize_copy, "early", "stearly").returncode == 0
    overlay = kustomize_copy / "projects" / "early"
    with (overlay / "kustomization.yaml").open("a") as f:
        f.write("\n" + entry.group(1))
    tag = yaml.safe_load(entry.group(1))["images"][0]["newTag"]
    image = render(overlay).container["image"]
    assert image.endswith(f":{tag}"), image
    assert run_new_project(kustomize_copy, "later", "stlater").returncode == 0
    assert not render(kustomize_copy / "projects" / "later").container["image"].endswith(f":{tag}")


def test_new_project_keeps_every_invariant(kustomize_copy):
    out = run_new_project(kustomize_copy, "census-2031", "stcensus2031")
    assert out.returncode == 0, out.stderr
    r = render(kustomize_copy / "projects" / "census-2031")
    for check in CHECKS:
        check(r)
    assert r.one("Namespace")["metadata"]["name"] == "blobgate-census-2031"
    assert r.env_configmap()["AZURE_STORAGE_ACCOUNT"] == "stcensus2031"


def test_new_project_with_workload_identity(kustomize_copy):
    client = "5c1d2a8e-0b7f-4e55-9a31-2f6b8c0d9e14"
    out = run_new_project(kustomize_copy, "--workload-identity", client, "census-wi", "stcensuswi")
    assert out.returncode == 0, out.stderr
    r = render(kustomize_copy / "projects" / "census-wi")
    for check in CHECKS:
        check(r)
    assert r.one("ServiceAccount")["metadata"]["annotations"][WI_CLIENT_ID] == client
    assert STORAGE_SECRET not in referenced(r, "secret")
    # Only the storage Secret went: the rest of the pod is the base's.
    assert referenced(r, "secret") == {ACCESS_SECRET}
    assert r.container["envFrom"][0]["configMapRef"]["name"].startswith("blobgate-env-")
    bad = run_new_project(kustomize_copy, "--workload-identity", "not-a-guid", "census-bad", "stcensusbad")
    assert bad.returncode == 2 and "client ID" in bad.stderr
    assert not (kustomize_copy / "projects" / "census-bad").exists()


@pytest.mark.parametrize(
    "project,account,message",
    [
        ("Census", "stcensus", "project name"),
        ("-census", "stcensus", "project name"),
        ("census_2031", "stcensus", "project name"),
        ("x" * 55, "stcensus", "project name"),
        ("census", "st-census", "storage account"),
        ("census", "st", "storage account"),
        ("census", "STCENSUS", "storage account"),
    ],
)
def test_new_project_refuses_bad_names(kustomize_copy, project, account, message):
    out = run_new_project(kustomize_copy, project, account)
    assert out.returncode == 2 and message in out.stderr, (out.returncode, out.stderr)
    assert not any((kustomize_copy / "projects").iterdir())


def test_new_project_never_overwrites(kustomize_copy):
    assert run_new_project(kustomize_copy, "census", "stcensus").returncode == 0
    kustomization = kustomize_copy / "projects" / "census" / "kustomization.yaml"
    before = kustomization.read_text()
    out = run_new_project(kustomize_copy, "census", "stother")
    assert out.returncode == 1 and "exists" in out.stderr
    assert kustomization.read_text() == before


# ------------------------------------------------------- Dockerfile contract


@dataclass
class Image:
    build_run: str  # the build stage's RUN commands, joined
    copies: list[tuple[str, str, str | None]]  # runtime stage: (source, destination, --from stage)
    env: dict[str, str]
    user: str
    expose: list[str]
    entrypoint: list[str]
    cmd: list[str]
    args: dict[str, str]


def image() -> Image:
    parser = DockerfileParser(path=str(DOCKERFILE))
    stages: list[list[dict]] = []
    args = {}
    for ins in parser.structure:
        if ins["instruction"] == "FROM":
            stages.append([])
        elif ins["instruction"] == "ARG" and not stages:
            name, _, default = ins["value"].partition("=")
            args[name] = default
        if stages:
            stages[-1].append(ins)
    assert len(stages) == 2, "a build stage and a runtime stage"
    build, runtime = stages

    def values(stage, instruction):
        return [i["value"] for i in stage if i["instruction"] == instruction]

    copies = []
    for value in values(runtime, "COPY"):
        words = value.split()
        flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
        src, dst = [w for w in words if not w.startswith("--")]
        copies.append((src, dst, flags.get("from")))
    return Image(
        build_run=" ".join(values(build, "RUN")),
        copies=copies,
        env=parser.envs,
        user=values(runtime, "USER")[-1],
        expose=values(runtime, "EXPOSE"),
        entrypoint=json.loads(values(runtime, "ENTRYPOINT")[-1]),
        cmd=json.loads(values(runtime, "CMD")[-1]),
        args=args,
    )


def cargo_bin_name() -> str:
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    meta = json.loads(out.stdout)
    bins = [
        t["name"]
        for p in meta["packages"]
        if p["name"] == "blobgate"
        for t in p["targets"]
        if "bin" in t["kind"]
    ]
    assert len(bins) == 1, bins
    return bins[0]


def test_image_runs_the_binary_cargo_builds():
    img = image()
    name = cargo_bin_name()
    assert re.search(rf"cargo build --release --locked -p blobgate --bin {name}\b", img.build_run), img.build_run
    built = f"target/release/{name}"
    assert built in img.build_run
    entry = img.entrypoint[0]
    assert PurePosixPath(entry).name == name
    # The entrypoint is what the runtime stage copies from the build stage.
    assert [dst for src, dst, stage in img.copies if stage == "build" and PurePosixPath(src).name == name] == [entry]
    assert img.cmd == ["serve"]
    out = subprocess.run([str(gateway_binary()), *img.cmd, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--config" in out.stdout, out.stderr


def test_image_build_and_runtime_share_a_debian_release():
    """The binary links against the build stage's glibc: the runtime's must
    be the same Debian release (or newer)."""
    froms = [i["value"] for i in DockerfileParser(path=str(DOCKERFILE)).structure if i["instruction"] == "FROM"]
    releases = {"bookworm": 12, "trixie": 13, "debian12": 12, "debian13": 13}

    def release(image):
        found = [n for name, n in releases.items() if re.search(rf"\b{name}\b", image)]
        assert len(found) == 1, f"{image}: name its Debian release"
        return found[0]

    build, runtime = (release(f.split()[0]) for f in froms)
    assert build <= runtime, froms


def test_image_toolchain_builds_the_workspace():
    """The build stage's Rust is at least the workspace's rust-version."""
    want = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["rust-version"]
    have = image().args["RUST_VERSION"]

    def version(v):
        return tuple(int(x) for x in v.split("."))

    assert version(have) >= version(want), (have, want)


def test_image_and_manifests_agree(all_rendered):
    img = image()
    image_config = tomllib.loads(IMAGE_CONFIG.read_text())
    # The configuration path: the image's variable, where it puts its default
    # and where every Deployment mounts the project's.
    config_path = img.env["BLOBGATE_CONFIG"]
    assert ("deploy/image/config.toml", config_path, None) in img.copies
    # The port.
    port = listen_port(image_config)
    assert img.expose == [str(port)]
    assert image_config["listen"].startswith("0.0.0.0:"), "reachable from outside the container"
    # The user: numeric (so runAsNonRoot can be verified) and not root, and
    # the one the pods run as.
    uid, gid = (int(x) for x in img.user.split(":"))
    assert uid != 0 and gid != 0
    # The data directory of the default configuration is the image's own,
    # owned by that user.
    assert [dst for _, dst, _ in img.copies if dst == image_config["data_dir"]] == [image_config["data_dir"]]
    assert f"-o {uid} -g {gid}" in img.build_run
    for r in all_rendered.values():
        assert str(config_mount_path(r)) == config_path
        assert listen_port(r.config_toml()) == port
        sc = r.pod["spec"]["securityContext"]
        assert (sc["runAsUser"], sc["runAsGroup"]) == (uid, gid)
        assert r.container.get("command") is None, "the image's entrypoint is the gateway"


# ----------------------------------------------- the configurations, running


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """The gateway binary started with a shipped configuration, on loopback."""

    def __init__(self, tmp_path: Path, env: dict[str, str], binary: Path | None = None, wrap=()):
        self.port = free_port()
        self.log = tmp_path / "blobgate.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_STORAGE_"))}
        # The configuration's listen address is 0.0.0.0:PORT; tests listen on
        # loopback only, so the flag (which wins over the file) moves it.
        self.proc = subprocess.Popen(
            [*wrap, str(binary or gateway_binary()), "serve", "--listen", f"127.0.0.1:{self.port}"],
            env={**clean, **env}, cwd=tmp_path, stdin=subprocess.DEVNULL,
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.log.read_text()}"
            try:
                if self.get("/-/health/live").status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def probe_like_the_kubelet(r: Rendered, gw: Running) -> None:
    """GET each probe's path and the scrape path, as the Deployment names them."""
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = r.container[probe]["httpGet"]["path"]
        resp = gw.get(path)
        assert resp.status_code == 200, (probe, path, resp.status_code, resp.text)
    metrics = gw.get(r.pod["metadata"]["annotations"]["prometheus.io/path"])
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "blobgate_requests_total" in metrics.text


def test_image_default_configuration_serves(tmp_path, all_rendered):
    """The image's own config.toml is accepted by the binary and serves the
    probes (its /data moved to a temporary directory)."""
    data = tmp_path / "data"
    data.mkdir()
    gw = Running(
        tmp_path,
        {
            "BLOBGATE_CONFIG": str(IMAGE_CONFIG),
            "BLOBGATE_DATA_DIR": str(data),
            "BLOBGATE_ACCESS_KEY": "deploy-test",
            "BLOBGATE_SECRET_KEY": "deploy-test-secret",
        },
    )
    try:
        probe_like_the_kubelet(all_rendered["example-project"], gw)
    finally:
        assert gw.stop() == 0, gw.log.read_text()


@pytest.fixture(scope="module")
def azurite() -> dict[str, str]:
    env = {k: os.environ.get(k) for k in ("AZURITE_ENDPOINT", "AZURITE_ACCOUNT", "AZURITE_KEY")}
    if not all(env.values()):
        pytest.fail("AZURITE_* not set: run deploy/tests/run.sh", pytrace=False)
    return env


def test_project_configuration_serves_on_azure(tmp_path, rendered, azurite):
    """A project's rendered ConfigMaps, with its Secrets filled in the way the
    README says (Azurite's account and key standing in for the project's),
    start the gateway: the kubelet's probes pass, Prometheus can scrape, and
    SIGTERM turns readiness to 503 for the configured delay, then the process
    exits within the pod's termination grace."""
    config_file = tmp_path / "config.toml"
    config_file.write_text(rendered.configmap(volume(rendered, "config")["configMap"]["name"])["data"]["config.toml"])
    # The blobgate-access Secret as a directory: users.json and the root pair.
    access = tmp_path / "access"
    access.mkdir()
    (access / "alice").write_text("alice-secret-key-0123456789")
    (access / "users.json").write_text(
        json.dumps({"users": [{"access_key": "alice", "secret_key_file": "alice", "policy": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
        }}]})  # fmt: skip
    )
    env = dict(rendered.env_configmap())
    env.update(
        BLOBGATE_CONFIG=str(config_file),
        # The mounted path, moved into the temporary directory.
        BLOBGATE_USERS_FILE=str(access / Path(rendered.config_toml()["users"]).name),
        BLOBGATE_ACCESS_KEY="deploy-test",
        BLOBGATE_SECRET_KEY="deploy-test-secret",
        # blobgate-storage, and the endpoint of the emulator.
        AZURE_STORAGE_ACCOUNT=azurite["AZURITE_ACCOUNT"],
        AZURE_STORAGE_KEY=azurite["AZURITE_KEY"],
        BLOBGATE_AZURE_ENDPOINT=azurite["AZURITE_ENDPOINT"],
    )
    gw = Running(tmp_path, env)
    try:
        probe_like_the_kubelet(rendered, gw)
        assert gw.get("/-/health/ready").text.strip() == "ready"
        delay = rendered.config_toml()["shutdown_delay_secs"]
        assert delay > 0
        gw.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        resp = gw.get(rendered.container["readinessProbe"]["httpGet"]["path"])
        assert resp.status_code == 503, resp.text
        assert gw.get("/-/health/live").status_code == 200, "still serving during the delay"
        code = gw.proc.wait(timeout=rendered.pod["spec"]["terminationGracePeriodSeconds"])
        assert code == 0, gw.log.read_text()
        assert time.monotonic() - started >= delay - 0.5
    finally:
        gw.stop()
    # The JSON log format of the configuration: one object per line.
    lines = [line for line in gw.log.read_text().splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines), lines[:3]


# The pod's file system, for a process on this machine: the root read-only,
# a fresh tmpfs on /tmp (the pod's emptyDir), and the configuration files
# read-only at /mnt. A mount namespace of its own, so nothing else sees it.
READ_ONLY_ROOT = [
    "unshare", "--mount", "--propagation", "private", "sh", "-ec",
    'mount --bind "$0" /mnt; mount -o remount,bind,ro /mnt; mount --bind / /; '
    'mount -o remount,bind,ro /; mount -t tmpfs tmpfs /tmp; exec "$@"',
]  # fmt: skip


def read_only_root_available() -> bool:
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", "mount -t tmpfs tmpfs /mnt"],
        capture_output=True, timeout=10,
    )  # fmt: skip
    return probe.returncode == 0 and Path("/mnt").is_dir()


def test_project_configuration_runs_on_a_read_only_root(tmp_path, all_rendered, azurite):
    """With the pod's file system (read-only root, /tmp its only writable
    place), the gateway serves uploads, multipart uploads, downloads and S3
    Select from the example project's configuration: nothing it does writes
    anywhere else."""
    import boto3
    from botocore.config import Config

    if not read_only_root_available():
        pytest.skip("no mount namespaces here (unshare --mount needs CAP_SYS_ADMIN)")
    r = all_rendered["example-project"]
    conf = tmp_path / "conf"
    (conf / "access").mkdir(parents=True)
    (conf / "config.toml").write_text(r.configmap(volume(r, "config")["configMap"]["name"])["data"]["config.toml"])
    (conf / "access" / "users.json").write_text('{"users": []}')
    # The binary goes where the process can still see it.
    binary = conf / "blobgate"
    try:
        os.link(gateway_binary(), binary)
    except OSError:
        shutil.copy2(gateway_binary(), binary)
    env = dict(r.env_configmap())
    env.update(
        BLOBGATE_CONFIG="/mnt/config.toml",
        BLOBGATE_USERS_FILE="/mnt/access/users.json",
        BLOBGATE_ACCESS_KEY="deploy-test",
        BLOBGATE_SECRET_KEY="deploy-test-secret",
        AZURE_STORAGE_ACCOUNT=azurite["AZURITE_ACCOUNT"],
        AZURE_STORAGE_KEY=azurite["AZURITE_KEY"],
        BLOBGATE_AZURE_ENDPOINT=azurite["AZURITE_ENDPOINT"],
    )
    gw = Running(tmp_path, env, binary=Path("/mnt/blobgate"), wrap=[*READ_ONLY_ROOT, str(conf)])
    try:
        probe_like_the_kubelet(r, gw)
        s3 = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{gw.port}", region_name="us-east-1",
            aws_access_key_id="deploy-test", aws_secret_access_key="deploy-test-secret",
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
        )  # fmt: skip
        bucket = f"ro-root-{os.getpid()}"
        s3.create_bucket(Bucket=bucket)
        big = os.urandom(24 << 20)  # multipart with boto3's defaults
        src = tmp_path / "big.bin"
        src.write_bytes(big)
        s3.upload_file(str(src), bucket, "big.bin")
        assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == big
        rows = "".join(f"{i},name{i},{i * 1.5}\n" for i in range(20000))
        s3.put_object(Bucket=bucket, Key="t.csv", Body=("id,name,value\n" + rows).encode())
        out = s3.select_object_content(
            Bucket=bucket, Key="t.csv", ExpressionType="SQL",
            Expression="SELECT count(*), sum(cast(value as float)) FROM S3Object WHERE cast(id as int) >= 100",
            InputSerialization={"CSV": {"FileHeaderInfo": "USE"}}, OutputSerialization={"CSV": {}},
        )  # fmt: skip
        records = b"".join(e["Records"]["Payload"] for e in out["Payload"] if "Records" in e)
        count, total = records.decode().strip().split(",")
        assert (int(count), float(total)) == (19900, sum(i * 1.5 for i in range(100, 20000)))
        for key in ("big.bin", "t.csv"):
            s3.delete_object(Bucket=bucket, Key=key)
        s3.delete_bucket(Bucket=bucket)
    finally:
        assert gw.stop() == 0, gw.log.read_text()
    assert "Read-only file system" not in gw.log.read_text()

