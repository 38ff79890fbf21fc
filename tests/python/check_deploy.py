"""Offline checks of deploy/ for tests/deploy_manifests.rs.

Checks the Kubernetes manifests against the API schemas kubernetes-validate ships (strict: an
unknown field is an error), and what no schema can: that Services, PodDisruptionBudgets and the
scalers point at what exists, that probes and grace periods fit the processes, and that
compose.yaml and the Dockerfile are what the README promises. Every setting named in them must be
one of the README's settings. Prints one JSON object: {"errors": [...], "commands": [[argv]...]};
the Rust test fails on any error and runs every command with --help against the built binaries.

Usage: check_deploy.py <repo root>
"""

import json
import re
import sys
from pathlib import Path

import kubernetes_validate
import yaml

root = Path(sys.argv[1])
errors = []
commands = []


def error(where, text):
    errors.append(f"{where}: {text}")


def documented_settings():
    readme = (root / "README.md").read_text()
    names = set()
    for line in readme.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


settings = documented_settings()


def check_settings(where, names):
    for name in names:
        if name not in settings:
            error(where, f"setting {name} is not in the README's settings table")


# --- Kubernetes -------------------------------------------------------------------------------

k8s = root / "deploy/k8s"
docs = []
for path in sorted(k8s.glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc is None:
            continue
        docs.append((path.name, doc))

schema_less = {("keda.sh/v1alpha1", "ScaledObject"), ("kustomize.config.k8s.io/v1beta1", "Kustomization")}
for name, doc in docs:
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in schema_less:
        continue
    try:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
    except kubernetes_validate.ValidationError as e:
        error(name, f"{doc.get('kind')} {doc['metadata'].get('name')}: {e.message} at {list(e.path)}")
    except kubernetes_validate.SchemaNotFoundError:
        error(name, f"no schema for {key}: an API version Kubernetes 1.37 does not serve")


def of_kind(kind):
    return {doc["metadata"]["name"]: (name, doc) for name, doc in docs if doc.get("kind") == kind}


deployments = of_kind("Deployment")
for wanted in ("cartwright-ingress", "cartwright-worker"):
    if wanted not in deployments:
        error("deploy/k8s", f"no Deployment {wanted}")

configmaps = of_kind("ConfigMap")
for name, doc in configmaps.values():
    check_settings(name, doc.get("data", {}).keys())

secret_keys = set()
for name, doc in of_kind("Secret").values():
    secret_keys.update(doc.get("stringData", {}).keys())
    secret_keys.update(doc.get("data", {}).keys())


def pod_labels(doc):
    return doc["spec"]["template"]["metadata"].get("labels", {})


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_pod(where, spec, grace_needed):
    grace = spec.get("terminationGracePeriodSeconds", 30)
    for container in spec["containers"]:
        command = container.get("command", [])
        if command:
            commands.append(command + container.get("args", []))
        check_settings(where, [e["name"] for e in container.get("env", [])])
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional") and ref["key"] not in secret_keys:
                error(where, f"{env['name']} reads Secret key {ref['key']}, which secret.example.yaml lacks")
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef")
            if ref and ref["name"] not in configmaps:
                error(where, f"envFrom names ConfigMap {ref['name']}, which is not defined")
        mounted = {m["name"] for m in container.get("volumeMounts", [])}
        for volume in spec.get("volumes", []):
            for item in volume.get("secret", {}).get("items", []):
                if item["key"] not in secret_keys:
                    error(where, f"volume {volume['name']} reads Secret key {item['key']}, which secret.example.yaml lacks")
        for m in mounted:
            if m not in {v["name"] for v in spec.get("volumes", [])}:
                error(where, f"mounts volume {m}, which the pod does not define")
        if grace_needed is not None:
            paths = {
                probe: container.get(probe, {}).get("httpGet", {}).get("path")
                for probe in ("livenessProbe", "readinessProbe")
            }
            if paths != {"livenessProbe": "/health", "readinessProbe": "/ready"}:
                error(where, f"probes must be liveness /health and readiness /ready, are {paths}")
            requests = container.get("resources", {}).get("requests", {})
            if "cpu" not in requests or "memory" not in requests:
                error(where, "resource requests for cpu and memory are missing")
            pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            delay = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
            if grace <= grace_needed + delay:
                error(where, f"terminationGracePeriodSeconds {grace} is not longer than the drain ({grace_needed} s) plus preStop ({delay} s)")


# The ingress drains for 10 s; a worker waits SHUTDOWN_GRACE (10 s) for its running turns.
drains = {"cartwright-ingress": 10, "cartwright-worker": 10}
for dep_name, (name, doc) in deployments.items():
    check_pod(f"{name} Deployment {dep_name}", doc["spec"]["template"]["spec"], drains.get(dep_name))
    if not selects(doc["spec"]["selector"]["matchLabels"], pod_labels(doc)):
        error(name, f"Deployment {dep_name}'s selector does not match its pods")
for job_name, (name, doc) in of_kind("Job").items():
    check_pod(f"{name} Job {job_name}", doc["spec"]["template"]["spec"], None)

for kind in ("Service", "PodDisruptionBudget"):
    for obj_name, (name, doc) in of_kind(kind).items():
        selector = doc["spec"]["selector"]
        selector = selector.get("matchLabels", selector) if kind == "PodDisruptionBudget" else selector
        if not any(selects(selector, pod_labels(d)) for _, d in deployments.values()):
            error(name, f"{kind} {obj_name} selects no Deployment's pods")
pdb_targets = {
    dep
    for _, doc in of_kind("PodDisruptionBudget").values()
    for dep, (_, d) in deployments.items()
    if selects(doc["spec"]["selector"].get("matchLabels", {}), pod_labels(d))
}
if pdb_targets != set(deployments):
    error("pdb.yaml", f"PodDisruptionBudgets cover {sorted(pdb_targets)}, not every Deployment")

DEPTH = "cartwright_queue_depth_total"
for obj_name, (name, doc) in of_kind("ScaledObject").items():
    spec = doc["spec"]
    if spec["scaleTargetRef"]["name"] != "cartwright-worker":
        error(name, f"ScaledObject {obj_name} scales {spec['scaleTargetRef']['name']}, not cartwright-worker")
    if not spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100):
        error(name, "minReplicaCount above maxReplicaCount")
    triggers = spec.get("triggers", [])
    if not any(t.get("type") == "prometheus" and DEPTH in t["metadata"].get("query", "") for t in triggers):
        error(name, f"no prometheus trigger reading {DEPTH}")
    for t in triggers:
        if float(t["metadata"].get("threshold", "0")) <= 0:
            error(name, "a trigger without a positive threshold")
for obj_name, (name, doc) in of_kind("HorizontalPodAutoscaler").items():
    spec = doc["spec"]
    if spec["scaleTargetRef"]["name"] not in deployments:
        error(name, f"HPA {obj_name} scales {spec['scaleTargetRef']['name']}, which is not a Deployment here")
    if DEPTH not in json.dumps(spec["metrics"]):
        error(name, f"HPA {obj_name} does not read {DEPTH}")

for name, doc in docs:
    if doc.get("kind") == "Kustomization":
        for resource in doc.get("resources", []):
            if not (k8s / resource).exists():
                error(name, f"resource {resource} does not exist")
        listed = set(doc.get("resources", []))
        if "keda-scaledobject.yaml" in listed and "hpa-alternative.yaml" in listed:
            error(name, "lists both scalers; they would fight over the replica count")

# --- compose ----------------------------------------------------------------------------------

compose = yaml.safe_load((root / "deploy/compose.yaml").read_text())
services = compose.get("services", {})
for wanted in ("nats", "postgres", "migrate", "ingress"):
    if wanted not in services:
        error("compose.yaml", f"no service {wanted}")
workers = [n for n, s in services.items() if s.get("command", [None])[0] == "cartwright-worker"]
if len(workers) < 2:
    error("compose.yaml", f"{len(workers)} worker services, not two")
for service_name, service in services.items():
    where = f"compose.yaml service {service_name}"
    restart = service.get("restart")
    if service_name == "migrate":
        if restart != "no":
            error(where, "the one-shot migrate must not restart")
    elif restart not in ("always", "unless-stopped", "on-failure"):
        error(where, f"restart policy {restart!r}: a long-running service must be restarted")
    command = service.get("command")
    if command and command[0].startswith("cartwright-"):
        commands.append(command)
        check_settings(where, service.get("environment", {}).keys())
    for secret in service.get("secrets", []):
        if secret not in compose.get("secrets", {}):
            error(where, f"secret {secret} is not defined")
    for dep, condition in service.get("depends_on", {}).items():
        if dep not in services:
            error(where, f"depends on {dep}, which is not a service")
        if condition.get("condition") == "service_healthy" and "test" not in services[dep].get("healthcheck", {}):
            error(where, f"waits for {dep} to be healthy, which has no health check")
nats_conf = (root / "deploy/nats-server-compose.conf").read_text()
if "jetstream" not in nats_conf or "store_dir: /data" not in nats_conf:
    error("nats-server-compose.conf", "JetStream with its store on the /data volume")
nats_mounts = services.get("nats", {}).get("volumes", [])
if not any(v.endswith(":/data") for v in nats_mounts):
    error("compose.yaml service nats", "the JetStream store /data is not a volume")

# --- Dockerfile -------------------------------------------------------------------------------

dockerfile = (root / "deploy/Dockerfile").read_text()
instructions = [line.split(None, 1) for line in dockerfile.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
stages = [i for i in instructions if i[0] == "FROM"]
if len(stages) < 2:
    error("Dockerfile", "not multi-stage")
final = instructions[max(n for n, i in enumerate(instructions) if i[0] == "FROM"):]
users = [i[1].strip() for i in final if i[0] == "USER"]
if not users or users[-1].split(":")[0] in ("0", "root"):
    error("Dockerfile", f"the runtime stage does not run as a non-root user ({users})")
if not any(i[0] == "HEALTHCHECK" for i in final):
    error("Dockerfile", "no HEALTHCHECK in the runtime stage")
cmd = [i[1] for i in final if i[0] == "CMD"]
if cmd:
    commands.append(json.loads(cmd[-1]))
else:
    error("Dockerfile", "no CMD")
for copied in re.findall(r"target/release/(\S+)", dockerfile):
    commands.append([copied])

print(json.dumps({"errors": errors, "commands": commands}))
