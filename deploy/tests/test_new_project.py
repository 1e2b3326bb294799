"""deploy/new-project.sh: it writes exactly the example, keeps every
invariant, refuses bad names, never overwrites."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from checks import (
    CHECKS,
)
from manifests import (
    ACCESS_SECRET,
    DEPLOY,
    PROJECTS,
    STORAGE_SECRET,
    WI_CLIENT_ID,
    referenced,
    render,
    run_new_project,
    volume,
)


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


ISSUER = "https://westeurope.oic.prod-aks.azure.com/0f3c1d2e-tenant/5a6b-cluster/"


def test_new_project_with_oidc_issuer(kustomize_copy):
    """--oidc-issuer: the overlay's users.json (a ConfigMap) trusts the
    cluster's issuer for audience blobgate and lets the named service
    accounts assume the role `pipeline`; the STS key stays in the Secret."""
    out = run_new_project(
        kustomize_copy, "--oidc-issuer", ISSUER, "--pipeline-sa", "kubeflow-alice:default-editor",
        "--pipeline-sa", "kubeflow:pipeline-runner", "census-id", "stcensusid",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    r = render(kustomize_copy / "projects" / "census-id")
    for check in CHECKS:
        check(r)
    users = json.loads(r.configmap(volume(r, "users")["configMap"]["name"])["data"]["users.json"])
    assert users["oidc_providers"] == [{"issuer": ISSUER, "audiences": ["blobgate"]}]
    (role,) = users["roles"]
    assert role["name"] == "pipeline"
    (statement,) = role["trust"]["Statement"]
    assert statement["Principal"] == {"Federated": ISSUER}
    name = ISSUER.removeprefix("https://").rstrip("/")
    assert statement["Condition"]["StringEquals"] == {
        f"{name}:aud": "blobgate",
        f"{name}:sub": ["system:serviceaccount:kubeflow-alice:default-editor",
                        "system:serviceaccount:kubeflow:pipeline-runner"],
    }  # fmt: skip
    assert r.env_configmap()["BLOBGATE_USERS_FILE"] == "/etc/blobgate-users/users.json"
    # Still the base's Secrets: the users file holds no secret.
    assert referenced(r, "secret") == {ACCESS_SECRET, STORAGE_SECRET}


@pytest.mark.parametrize(
    "args,message",
    [
        (["--oidc-issuer", ISSUER], "--pipeline-sa"),
        (["--pipeline-sa", "ns:sa"], "--oidc-issuer"),
        (["--oidc-issuer", "http://issuer.example/", "--pipeline-sa", "ns:sa"], "https"),
        (["--oidc-issuer", ISSUER, "--pipeline-sa", "Not_A_Name"], "NAMESPACE:SERVICEACCOUNT"),
    ],
)
def test_new_project_refuses_bad_identity_options(kustomize_copy, args, message):
    out = run_new_project(kustomize_copy, *args, "census-bad", "stcensusbad")
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert not (kustomize_copy / "projects" / "census-bad").exists()
