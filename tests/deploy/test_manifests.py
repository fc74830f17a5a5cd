"""deploy/: every Kubernetes manifest passes kubernetes-validate (the API schemas it carries, strict), the pieces
refer to each other correctly (selectors, ports, ConfigMaps, Secret keys, one partition per pod), the configs
they carry are valid gridwatch configs, and the compose file and the Dockerfile name files that exist.

Not built here: the image (no container engine on this machine) and nothing is applied to a cluster."""

from __future__ import annotations

import copy
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from dispatch.config import DispatchConfig
from edge.config import EdgeConfig
from ingest.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
# The oldest release the StatefulSet's pod-index label is in (1.28), one in wide use, and the newest schemas.
VERSIONS = ("1.28.0", "1.30.0", kubernetes_validate.latest_version())


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return docs


def find(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in manifests() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"one {kind} {name or ''} expected, found {len(found)}"
    return found[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def config_text(name: str, key: str) -> str:
    return find("ConfigMap", name)["data"][key]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_passes_the_kubernetes_schemas(version: str) -> None:
    docs = manifests()
    assert {d["kind"] for d in docs} >= {"Namespace", "Deployment", "StatefulSet", "PodDisruptionBudget", "Service",
                                         "Ingress", "ConfigMap", "Secret"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_refuses_a_broken_manifest() -> None:
    """The check above can fail: a misspelt field and a wrong type are refused."""
    deployment = find("Deployment")
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["replica"] = misspelt["spec"].pop("replicas")
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_dispatch_runs_replicas_with_probes_and_a_disruption_budget() -> None:
    deployment = find("Deployment", "gridwatch-dispatch")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = pod_spec(deployment)["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert "livenessProbe" in container and "startupProbe" in container
    budget = find("PodDisruptionBudget", "gridwatch-dispatch")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 1 <= budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    service = find("Service", "gridwatch-dispatch")
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_the_ingress_serves_the_page_and_the_feed_unbuffered_and_nothing_else() -> None:
    ingress = find("Ingress")
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    routed = {(p["path"], p["pathType"]) for p in paths}
    assert routed == {("/", "Exact"), ("/static", "Prefix"), ("/api", "Prefix")}  # the feed is /api/v1/feed
    service = find("Service", "gridwatch-dispatch")
    for path in paths:
        backend = path["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_edge_statefulset_gives_each_pod_its_partition_and_volume() -> None:
    statefulset = find("StatefulSet", "gridwatch-edge")
    replicas = statefulset["spec"]["replicas"]
    container = pod_spec(statefulset)["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["GRIDWATCH_PARTITION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    claims = {c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert claims == {"state"}
    governing = find("Service", statefulset["spec"]["serviceName"])
    assert governing["spec"]["clusterIP"] == "None"

    template = config_text("gridwatch-edge", "edge.yaml")
    seen: set[tuple[str, int]] = set()
    for ordinal in range(replicas):
        for by in ("label", "hostname"):  # the pod-index label, or (before 1.28) the hostname's suffix
            rendered = render_edge_config(container, template, ordinal, by)
            config = EdgeConfig.model_validate(rendered)
            assert config.partition is not None
            assert (config.partition.index, config.partition.count, config.partition.buildings) == (
                ordinal, replicas, None)
            assert config.edge_id == f"edge-{ordinal}"
            assert str(config.state_dir).startswith(mounts["state"] + "/")  # outbox and rule state on the PVC
            assert config.health_listen.endswith(":8610")
            seen.add((config.edge_id, ordinal))
    assert len({edge_id for edge_id, _ in seen}) == replicas  # one edge_id (broker session, outbox) per pod


def render_edge_config(container: dict[str, Any], template: str, ordinal: int, by: str) -> dict[str, Any]:
    """Runs the container's own start script with /bin/sh, paths moved to a temp folder and `gridwatch edge`
    replaced by printing the config it would be given."""
    script = container["args"][0]
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"gridwatch-edge-render-{os.getpid()}-{ordinal}-{by}"
    (tmp / "etc").mkdir(parents=True, exist_ok=True)
    (tmp / "var").mkdir(exist_ok=True)
    (tmp / "etc/edge.yaml.template").write_text(template, encoding="utf-8")
    script = (script.replace("/etc/gridwatch/edge.yaml.template", str(tmp / "etc/edge.yaml.template"))
              .replace("/var/lib/gridwatch/edge.yaml", str(tmp / "var/edge.yaml"))
              .replace("exec gridwatch edge --config", "exec cat"))
    env = {"PATH": os.environ["PATH"], "HOSTNAME": f"gridwatch-edge-{ordinal}"}
    if by == "label":
        env |= {"GRIDWATCH_PARTITION_INDEX": str(ordinal), "HOSTNAME": "unrelated-host"}
    try:
        out = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=10,
                             check=True).stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return yaml.safe_load(out)


def test_configs_registry_and_secrets_fit_together() -> None:
    dispatch = DispatchConfig.model_validate(yaml.safe_load(config_text("gridwatch-dispatch", "dispatch.yaml")))
    assert dispatch.port == 8600 and dispatch.host == "0.0.0.0"
    assert dispatch.store.kind == "postgresql"  # the replicas share one database
    Registry.model_validate(yaml.safe_load(config_text("gridwatch-registry", "registry.yaml")))

    secret_keys = set(find("Secret", "gridwatch-tokens")["stringData"])
    edge_text = config_text("gridwatch-edge", "edge.yaml")
    named = set(re.findall(r"\b(?:token_env|password_env|dsn_env|edge_token_env|operator_token_env):\s*(\w+)",
                           edge_text + config_text("gridwatch-dispatch", "dispatch.yaml")))
    assert named and named <= secret_keys, named - secret_keys

    # Every ConfigMap and Secret a pod mounts is in the manifests; configs read the paths the pods mount.
    configmaps = {d["metadata"]["name"] for d in manifests() if d["kind"] == "ConfigMap"}
    for workload in (find("Deployment", "gridwatch-dispatch"), find("StatefulSet", "gridwatch-edge")):
        volumes = pod_spec(workload)["volumes"]
        assert {v["configMap"]["name"] for v in volumes if "configMap" in v} <= configmaps
        assert {v["secret"]["secretName"] for v in volumes if "secret" in v} == {"gridwatch-tokens"}
        mounts = {m["mountPath"] for m in pod_spec(workload)["containers"][0]["volumeMounts"]}
        assert "/run/secrets" in mounts  # where ingest.config.secret reads a secret the environment lacks
        assert "/etc/gridwatch/registry" in mounts
    assert str(dispatch.registry) == "/etc/gridwatch/registry/registry.yaml"


def test_prometheus_finds_the_pods_the_manifests_run() -> None:
    """Debian's promtool has no Kubernetes discovery: the cluster scrape config is checked against the pods."""
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus-kubernetes.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    rules = (DEPLOY / "prometheus/gridwatch-rules.yaml").read_text()
    assert set(jobs) == set(re.findall(r'job="([\w-]+)"', rules))
    for job, workload in (("gridwatch-edge", find("StatefulSet")), ("gridwatch-dispatch", find("Deployment"))):
        selector = jobs[job]["kubernetes_sd_configs"][0]["selectors"][0]["label"]
        wanted = dict(pair.split("=") for pair in selector.split(","))
        assert wanted.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
        keep = next(r for r in jobs[job]["relabel_configs"] if r.get("action") == "keep")
        ports = pod_spec(workload)["containers"][0]["ports"]
        assert [p["containerPort"] for p in ports if p["name"] == keep["regex"]] == \
            [int(workload["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])]


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_the_compose_file_refers_to_files_that_exist() -> None:
    spec = compose()
    assert set(spec["services"]) == {"mosquitto", "dispatch", "edge", "prometheus", "grafana"}
    made_by_script = set(re.findall(r"for name in ([\w ]+);", (DEPLOY / "compose/make-secrets.sh").read_text())[0]
                         .split())
    for name, secret in spec["secrets"].items():
        assert secret["file"] == f"./compose/secrets/{name}" and name in made_by_script
    for service_name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{service_name} mounts {source}, which is missing"
            else:
                assert source in spec["volumes"], f"{service_name}: named volume {source} is not declared"
        for secret in service.get("secrets", []):
            assert secret in spec["secrets"]
        for dependency in service.get("depends_on", []):
            assert dependency in spec["services"]
    build = spec["x-gridwatch"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    # The configs the services mount are valid gridwatch configs, pointing at what the services mount.
    edge = EdgeConfig.model_validate(yaml.safe_load((DEPLOY / "compose/edge.yaml").read_text()))
    dispatch = DispatchConfig.model_validate(yaml.safe_load((DEPLOY / "compose/dispatch.yaml").read_text()))
    assert edge.dispatch.url.startswith("http://dispatch:8600/") and edge.mqtt.url == "mqtt://mosquitto:1883"
    assert edge.health_listen == "0.0.0.0:8610" and dispatch.listen == "0.0.0.0:8600"
    scrape = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())["scrape_configs"]
    assert {t for job in scrape for c in job["static_configs"] for t in c["targets"]} == {"edge:8610",
                                                                                         "dispatch:8600"}


def test_make_secrets_writes_each_token_once(tmp_path: Path) -> None:
    folder = tmp_path / "compose"
    folder.mkdir()
    shutil.copy(DEPLOY / "compose/make-secrets.sh", folder)
    subprocess.run(["sh", str(folder / "make-secrets.sh")], check=True, capture_output=True, timeout=10)
    first = {p.name: p.read_text() for p in (folder / "secrets").iterdir()}
    assert set(first) == set(compose()["secrets"])
    assert all(re.fullmatch(r"[0-9a-f]{48}", value) for value in first.values())
    assert stat.S_IMODE((folder / "secrets").stat().st_mode) == 0o700
    subprocess.run(["sh", str(folder / "make-secrets.sh")], check=True, capture_output=True, timeout=10)
    assert {p.name: p.read_text() for p in (folder / "secrets").iterdir()} == first  # kept, not replaced


def test_the_dockerfile_installs_the_project_without_extras() -> None:
    text = "\n".join(line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.startswith("#"))
    installs = re.findall(r"pip install ([^\s&\\]+)", text)
    assert installs == ["."], installs  # no [train] extra: no torch in the image
    for source in re.findall(r"^COPY (.+) \S+$", text, flags=re.MULTILINE):
        for item in source.split():
            assert list(ROOT.glob(item.rstrip("/"))), f"the Dockerfile copies {item}, which is missing"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "models/weights/*.pt" in ignored


def test_the_prometheus_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool (Debian's prometheus) is not installed: run the README's set-up")
    folder = DEPLOY / "prometheus"
    for args in (["check", "rules", "gridwatch-rules.yaml"], ["test", "rules", "gridwatch-rules.test.yaml"],
                 ["check", "config", "--syntax-only", "prometheus.yml"]):
        result = subprocess.run([promtool, *args], cwd=folder, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_grafana_json_on_a_prometheus_datasource() -> None:
    import json

    dashboard = json.loads((DEPLOY / "grafana/gridwatch.json").read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
        assert all(t["expr"] for t in panel["targets"])
    # The dashboard provider of the compose site reads the folder the dashboard is mounted in.
    provider = yaml.safe_load((DEPLOY / "compose/grafana/dashboards/gridwatch.yaml").read_text())["providers"][0]
    grafana = compose()["services"]["grafana"]["volumes"]
    assert any(v.startswith("./grafana/gridwatch.json:" + provider["options"]["path"] + "/") for v in grafana)
