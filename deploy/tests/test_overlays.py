"""Every project overlay, rendered with Debian's kubectl (kustomize v2),
validates strictly against the Kubernetes schemas of the versions AKS runs and
keeps the deployment's invariants (checks.py); projects stay apart; nothing
under deploy/ carries a secret."""

from __future__ import annotations

import json
import os

import kubernetes_validate
import pytest
import yaml

from checks import (
    CHECKS,
    SECRET_VALUE,
)
from manifests import (
    DEPLOY,
    K8S_VERSIONS,
    PROJECTS,
)


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


def test_identity_examples():
    """The example pod is a valid Pod; Kubeflow's PodDefault gives notebooks
    the same token volume and variables."""
    pod = yaml.safe_load((DEPLOY / "examples" / "pipeline-pod.yaml").read_text())
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
    default = yaml.safe_load((DEPLOY / "examples" / "kubeflow-poddefault.yaml").read_text())
    assert default["kind"] == "PodDefault" and default["apiVersion"] == "kubeflow.org/v1alpha1"
    (container,) = pod["spec"]["containers"]
    pod_env = {e["name"]: e["value"] for e in container["env"]}
    pod_env.pop("AWS_ROLE_SESSION_NAME")  # per step
    assert {e["name"]: e["value"] for e in default["spec"]["env"]} == pod_env
    assert default["spec"]["volumes"] == pod["spec"]["volumes"]
    assert default["spec"]["volumeMounts"] == container["volumeMounts"]
