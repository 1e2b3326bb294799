#!/usr/bin/env bash
# Write the Kustomize overlay of a new project's gateway:
#
#   deploy/new-project.sh [--workload-identity CLIENT_ID]
#                         [--oidc-issuer URL --pipeline-sa NAMESPACE:SERVICEACCOUNT...]
#                         PROJECT STORAGE_ACCOUNT
#
# PROJECT names the project (lowercase letters, digits and '-', at most 54
# characters); its gateway runs in the namespace blobgate-PROJECT, and serves
# clients in namespaces labelled blobgate.io/project=PROJECT.
# STORAGE_ACCOUNT is the project's Azure storage account (3 to 24 lowercase
# letters and digits).
#
# With --workload-identity, the pods reach the account with Entra ID tokens
# of the managed identity CLIENT_ID (AKS workload identity) instead of an
# account key: the overlay annotates the ServiceAccount and labels the pods,
# and no blobgate-storage Secret is used (deploy/README.md, "Credentials").
#
# With --oidc-issuer (the cluster's OIDC issuer URL, as in its
# service-account tokens' `iss`), pipeline pods get credentials from their
# projected service-account tokens through STS, with no key: the overlay's
# users.json (a ConfigMap, in Git: it holds no secret) trusts that issuer for
# the audience `blobgate` and has a role `pipeline` that the service
# accounts named by --pipeline-sa (one or more) may assume
# (deploy/README.md, "Identity").
#
# Writes deploy/kustomize/projects/PROJECT/ (or $BLOBGATE_KUSTOMIZE_DIR/projects/PROJECT/)
# and refuses to overwrite one that exists. example-project is this script's
# output for `example-project stexampleproject`.
set -euo pipefail

usage() {
    echo "usage: $0 [--workload-identity CLIENT_ID] [--oidc-issuer URL --pipeline-sa NAMESPACE:SERVICEACCOUNT...] PROJECT STORAGE_ACCOUNT" >&2
    exit 2
}
client_id=""
issuer=""
pipeline_sas=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --workload-identity)
            [ "$#" -ge 2 ] || usage
            client_id="$2"
            shift 2
            if ! [[ "$client_id" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then
                echo "$0: --workload-identity '$client_id': give the managed identity's client ID (a lowercase GUID)" >&2
                exit 2
            fi
            ;;
        --oidc-issuer)
            [ "$#" -ge 2 ] || usage
            issuer="$2"
            shift 2
            # https, or plain http on loopback only (as the gateway requires).
            if ! [[ "$issuer" =~ ^https://[^[:space:]?#/]+(/[^[:space:]?#]*)?$ ||
                    "$issuer" =~ ^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?(/[^[:space:]?#]*)?$ ]]; then
                echo "$0: --oidc-issuer '$issuer': give the issuer's https URL, exactly as its tokens' iss claim" >&2
                exit 2
            fi
            ;;
        --pipeline-sa)
            [ "$#" -ge 2 ] || usage
            if ! [[ "$2" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?:[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$ ]]; then
                echo "$0: --pipeline-sa '$2': give NAMESPACE:SERVICEACCOUNT (Kubernetes names)" >&2
                exit 2
            fi
            pipeline_sas+=("$2")
            shift 2
            ;;
        --*) usage ;;
        *) break ;;
    esac
done
if [ -n "$issuer" ] && [ "${#pipeline_sas[@]}" -eq 0 ]; then
    echo "$0: --oidc-issuer needs at least one --pipeline-sa NAMESPACE:SERVICEACCOUNT" >&2
    exit 2
fi
if [ -z "$issuer" ] && [ "${#pipeline_sas[@]}" -gt 0 ]; then
    echo "$0: --pipeline-sa needs --oidc-issuer" >&2
    exit 2
fi
[ "$#" -eq 2 ] || usage
project="$1"
account="$2"

if ! [[ "$project" =~ ^[a-z0-9]([a-z0-9-]{0,52}[a-z0-9])?$ ]]; then
    echo "$0: project name '$project': use 1 to 54 lowercase letters, digits and '-', starting and ending with a letter or digit (the namespace is blobgate-$project)" >&2
    exit 2
fi
if ! [[ "$account" =~ ^[a-z0-9]{3,24}$ ]]; then
    echo "$0: storage account '$account': Azure account names are 3 to 24 lowercase letters and digits" >&2
    exit 2
fi

kustomize_dir="${BLOBGATE_KUSTOMIZE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kustomize}"
dir="$kustomize_dir/projects/$project"
if [ -e "$dir" ]; then
    echo "$0: $dir exists; edit it instead" >&2
    exit 1
fi
namespace="blobgate-$project"
mkdir -p "$dir"

if [ -n "$client_id" ]; then
    secrets="# Secret in namespace $namespace (deploy/README.md, \"Add a project\"):
# blobgate-access (the root key pair and users.json). The account is reached
# as managed identity $client_id (workload-identity.yaml)."
    patches="  - clients.yaml
  - workload-identity.yaml"
else
    secrets="# Secrets in namespace $namespace (deploy/README.md, \"Add a project\"):
# blobgate-storage (the account key) and blobgate-access (the root key pair
# and users.json)."
    patches="  - clients.yaml"
fi
users_generator=""
users_env=""
if [ -n "$issuer" ]; then
    patches="$patches
  - identity.yaml"
    users_env="
      - BLOBGATE_USERS_FILE=/etc/blobgate-users/users.json"
    users_generator="
  # Providers, roles and users (whose secrets stay in blobgate-access).
  - name: blobgate-users
    files:
      - users.json"
fi

cat > "$dir/kustomization.yaml" <<YAML
# The blobgate gateway of project $project, on storage account $account
# (written by deploy/new-project.sh). Before applying, create its
$secrets
namespace: $namespace

bases:
  - ../../base

resources:
  - namespace.yaml

configMapGenerator:
  - name: blobgate-env
    behavior: merge
    literals:
      - AZURE_STORAGE_ACCOUNT=$account$users_env$users_generator

patchesStrategicMerge:
$patches
YAML

if [ -n "$client_id" ]; then
    cat > "$dir/workload-identity.yaml" <<YAML
# Entra ID tokens of managed identity $client_id instead of an account key:
# the identity needs the role Storage Blob Data Contributor on $account
# and a federated credential for system:serviceaccount:$namespace:blobgate.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: blobgate
  annotations:
    azure.workload.identity/client-id: $client_id
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: blobgate
spec:
  template:
    metadata:
      labels:
        azure.workload.identity/use: "true"
    spec:
      containers:
        - name: blobgate
          # The account's name only: no blobgate-storage Secret.
          envFrom:
            - configMapRef:
                name: blobgate-env
YAML
fi

if [ -n "$issuer" ]; then
    issuer_name="${issuer#https://}"
    issuer_name="${issuer_name#http://}"
    issuer_name="${issuer_name%/}"
    subjects=""
    for sa in "${pipeline_sas[@]}"; do
        subjects="$subjects${subjects:+, }\"system:serviceaccount:${sa%%:*}:${sa#*:}\""
    done
    cat > "$dir/users.json" <<JSON
{
  "users": [],
  "oidc_providers": [
    {"issuer": "$issuer", "audiences": ["blobgate"]}
  ],
  "roles": [
    {"name": "pipeline",
     "max_session_secs": 3600,
     "trust": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
       "Principal": {"Federated": "$issuer"},
       "Action": "sts:AssumeRoleWithWebIdentity",
       "Condition": {"StringEquals": {
         "$issuer_name:aud": "blobgate",
         "$issuer_name:sub": [$subjects]}}}]},
     "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
       "Action": "s3:*", "Resource": "*"}]}}
  ]
}
JSON
    cat > "$dir/identity.yaml" <<YAML
# users.json of this overlay (providers and roles; BLOBGATE_USERS_FILE
# points here) beside the blobgate-access Secret, which keeps the root pair,
# the STS key and any user's secret file (give those as absolute paths,
# "secret_key_file": "/etc/blobgate-access/alice").
apiVersion: apps/v1
kind: Deployment
metadata:
  name: blobgate
spec:
  template:
    spec:
      containers:
        - name: blobgate
          volumeMounts:
            - name: users
              mountPath: /etc/blobgate-users
              readOnly: true
      volumes:
        - name: users
          configMap:
            name: blobgate-users
YAML
fi

cat > "$dir/namespace.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
  labels:
    blobgate.io/project: $project
YAML

cat > "$dir/clients.yaml" <<YAML
# Who may connect: pods in namespaces labelled blobgate.io/project=$project
# (the project's notebooks and pipelines, and $namespace itself).
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: blobgate-clients
spec:
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              blobgate.io/project: $project
      ports:
        - port: 9000
          protocol: TCP
YAML

echo "wrote $dir"
if [ -n "$client_id" ]; then
    echo "next: create the Secret blobgate-access in namespace $namespace, then kubectl apply -k $dir"
else
    echo "next: create the Secrets blobgate-storage and blobgate-access in namespace $namespace, then kubectl apply -k $dir"
fi
