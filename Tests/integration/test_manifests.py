"""The deployment side, checked the way Argo and kubectl meet it: every Workflow, CronWorkflow and
WorkflowTemplate under manifests/ against Argo v4.1's own JSON schema (../shared/argo/schema.json),
`kubectl kustomize` on the component alone and inside an overlay with (a stand-in for) Argo's
install, and every plugin configuration in the manifests through the plugin's own parser
(`argo-artifact-plugin config check`)."""
import copy
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import REPO, plugin_binary, require_tool

MANIFESTS = REPO / "manifests"
SCHEMA = Path(os.environ.get("ARGO_SCHEMA", REPO.parent / "shared" / "argo" / "schema.json"))
ARGO_KINDS = ("Workflow", "CronWorkflow", "WorkflowTemplate", "ClusterWorkflowTemplate")


def manifest_docs():
    """(file, document) for every YAML document under manifests/."""
    out = []
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict):
                out.append((path, doc))
    return out


def argo_schema():
    if not SCHEMA.exists():
        msg = f"Argo's JSON schema is not at {SCHEMA} (it sits in ../shared beside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {msg}", pytrace=False)
        pytest.skip(msg)
    return json.loads(SCHEMA.read_text())


def validator(schema, kind):
    import jsonschema
    return jsonschema.Draft7Validator({"$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}",
                                       "definitions": schema["definitions"]})


def schema_errors(schema, doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema, doc["kind"]).iter_errors(doc)]


def test_every_argo_resource_in_manifests_is_accepted_by_argo_schema():
    schema = argo_schema()
    checked = []
    for path, doc in manifest_docs():
        if doc.get("apiVersion") == "argoproj.io/v1alpha1" and doc.get("kind") in ARGO_KINDS:
            errors = schema_errors(schema, doc)
            assert not errors, f"{path.relative_to(REPO)} ({doc['kind']}): Argo's schema refuses it:\n" + "\n".join(errors)
            checked.append(f"{path.name}:{doc['kind']}")
    # The walk must have found the sweeper and the examples, or it proves nothing.
    assert any(c.endswith("CronWorkflow") for c in checked), checked
    assert sum(c.endswith(":Workflow") for c in checked) >= 4, checked


def test_the_schema_check_refuses_argo_v3_cron_schedule():
    """The check can fail: the sweeper as it was (v3's single `schedule`) is refused."""
    schema = argo_schema()
    cron = next(d for _, d in manifest_docs() if d.get("kind") == "CronWorkflow")
    old = copy.deepcopy(cron)
    old["spec"]["schedule"] = old["spec"].pop("schedules")[0]
    assert any("'schedules' is a required property" in e for e in schema_errors(schema, old))


def kustomize(path):
    kubectl = require_tool("kubectl", "kubectl")
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kubectl kustomize {path} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_kubectl_kustomize_builds_the_component_alone():
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in kustomize(MANIFESTS))
    assert "CronWorkflow/artifact-sweeper" in kinds
    assert "Role/argo-artifact-plugin" in kinds and "RoleBinding/argo-artifact-plugin" in kinds
    assert "ConfigMap/artifact-repositories" in kinds
    # Examples are not part of the install.
    assert not any(k.startswith("Workflow/") for k in kinds), kinds


def test_the_component_patches_argo_install(tmp_path):
    """In an overlay beside Argo's install (a stand-in of its two patched objects), the controller
    ConfigMap gains the driver and its image's entrypoint, and argo-server gains the sidecar
    sharing the socket directory."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    standin = REPO / "Tests" / "Fixtures" / "argo-install-standin"
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(standin, overlay)}\n"
        f"components:\n  - {os.path.relpath(MANIFESTS, overlay)}\n")
    docs = {f"{d['kind']}/{d['metadata']['name']}": d for d in kustomize(overlay)}

    cm = docs["ConfigMap/workflow-controller-configmap"]["data"]
    drivers = yaml.safe_load(cm["artifactDrivers"])
    images = yaml.safe_load(cm["images"])
    assert [d["name"] for d in drivers] == ["artifacts"]
    image = drivers[0]["image"]
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", (REPO / "Dockerfile").read_text(), re.M).group(1))
    assert images[image]["cmd"] == entrypoint, "the images: index must name the image's real ENTRYPOINT"

    pod = docs["Deployment/argo-server"]["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    sidecar = next(c for c in containers.values() if c.get("image") == image)
    socket_dir = "/tmp/artifact-plugins/artifacts"
    assert sidecar["args"] == [socket_dir + "/socket"]
    volume = next(v for v in pod["volumes"] if "emptyDir" in v and v["name"] != "tmp")
    for c in (sidecar, containers["argo-server"]):
        assert {"name": volume["name"], "mountPath": socket_dir} in c["volumeMounts"], c["name"]
    assert {"name": "tmp", "mountPath": "/tmp"} in containers["argo-server"]["volumeMounts"], "Argo's own mounts stay"


def plugin_configurations():
    """(where, text) of every plugin configuration in manifests/: each `plugin.configuration`
    (also inside ConfigMap values, e.g. artifact repositories) and the sweeper's --config file."""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            plugin = node.get("plugin")
            if isinstance(plugin, dict) and isinstance(plugin.get("configuration"), str):
                found.append((where, plugin["configuration"]))
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
        elif isinstance(node, str) and "\n" in node:
            try:
                inner = yaml.safe_load(node)
            except yaml.YAMLError:
                return
            if isinstance(inner, (dict, list)):
                walk(inner, where)

    docs = manifest_docs()
    for path, doc in docs:
        walk(doc, f"{path.relative_to(REPO)}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}")
    # The sweeper's configuration file: the ConfigMap key its --config argument points at.
    for path, doc in docs:
        if doc.get("kind") != "CronWorkflow":
            continue
        for t in doc["spec"]["workflowSpec"]["templates"]:
            args = t.get("container", {}).get("args", [])
            cfg = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), None)
            if not cfg:
                continue
            mount = next(m for m in t["container"]["volumeMounts"] if cfg.startswith(m["mountPath"] + "/"))
            volume = next(v for v in t["volumes"] if v["name"] == mount["name"])
            name, key = volume["configMap"]["name"], cfg[len(mount["mountPath"]) + 1:]
            cm = next(d for _, d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name)
            found.append((f"{path.relative_to(REPO)}:ConfigMap/{name}[{key}]", cm["data"][key]))
    return found


def config_check(text):
    return subprocess.run([plugin_binary(), "config", "check", "-"], input=text, capture_output=True, text=True, timeout=30)


def test_every_plugin_configuration_in_manifests_passes_config_check():
    found = plugin_configurations()
    assert len(found) >= 6, found      # repositories (s3, oss, file), OSS example, GC-by-outcome, sweeper
    for where, text in found:
        out = config_check(text)
        assert out.returncode == 0, f"{where}: config check refused it:\n{out.stderr}"
        assert out.stdout.startswith("provider: "), out.stdout


def test_config_check_cli(tmp_path):
    s3 = ("endpoint: minio:9000\nbucket: plugin-bucket\ninsecure: true\n"
          "accessKeySecret: {name: my-minio-cred, key: accesskey}\nsecretKeySecret: {name: my-minio-cred, key: secretkey}\n")
    out = config_check(s3)
    assert out.returncode == 0, out.stderr
    assert "provider: s3" in out.stdout and "accessKeySecret: {name: my-minio-cred, key: accesskey}" in out.stdout
    assert "partSize: 16Mi" in out.stdout, "defaults are shown"

    oss = tmp_path / "oss.yaml"
    oss.write_text("endpoint: oss-cn-hangzhou.aliyuncs.com\nbucket: my-argo-artifacts\n"
                   "accessKeySecret: {name: oss, key: ak}\nsecretKeySecret: {name: oss, key: sk}\n"
                   "securityToken: CAIS-inline-sts-token-do-not-print\n")
    out = subprocess.run([plugin_binary(), "config", "check", str(oss)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "provider: oss" in out.stdout and "securityToken: <hidden>" in out.stdout
    assert "do-not-print" not in out.stdout + out.stderr

    out = config_check("provider: file\nroot: /data\n")
    assert out.returncode == 0 and "root: /data" in out.stdout

    out = config_check("provider: file\nroot: /data\nmultipart:\n  partsize: 8Mi\n")
    assert out.returncode == 1
    assert "multipart.partsize (line 4)" in out.stderr and "did you mean 'partSize'" in out.stderr, out.stderr

    out = config_check("endpoint: minio:9000\nbucket: b-1\nuseSDKCreds: true\nmultipart:\n  concurrency: lots\n")
    assert out.returncode == 1
    assert "multipart.concurrency (line 5)" in out.stderr and "whole number" in out.stderr, out.stderr

    # A wrong type where a secret goes: the error names the field, never the value.
    out = config_check("endpoint: minio:9000\nbucket: b-1\naccessKeySecret: AKIA-SECRET-VALUE\nsecretKeySecret: {name: a, key: b}\n")
    assert out.returncode == 1 and "accessKeySecret (line 3)" in out.stderr, out.stderr
    assert "AKIA-SECRET-VALUE" not in out.stderr

    out = subprocess.run([plugin_binary(), "config", "check", str(tmp_path / "missing.yaml")], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "missing.yaml" in out.stderr
