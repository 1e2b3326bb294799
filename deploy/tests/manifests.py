"""What the deploy tests read: the rendered overlays, the Dockerfile, the
binary's own facts, and where things are in this repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
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

    def config_text(self) -> str:
        """The gateway's config.toml, as the pod mounts it."""
        return self.configmap(volume(self, "config")["configMap"]["name"])["data"]["config.toml"]

    def config_toml(self) -> dict:
        return tomllib.loads(self.config_text())

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


def run_new_project(kustomize_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(NEW_PROJECT), *args],
        env={**os.environ, "BLOBGATE_KUSTOMIZE_DIR": str(kustomize_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )


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
