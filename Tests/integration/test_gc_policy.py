"""gc.when: Delete removes artifacts only of workflows with the chosen outcome. The workflow's
phase comes from a local HTTPS double of the Kubernetes API (no cluster exists offline)."""
import pytest

from harness import Plugin, artifact, pb
from doubles.k8s_api_double import KubernetesAPIDouble

TABLE = {
    # gc.when → phases whose artifacts are deleted
    "Always": {"Succeeded", "Failed", "Error", "Running"},
    "Succeeded": {"Succeeded"},
    "Failed": {"Failed", "Error"},
}


@pytest.fixture
def k8s(tmp_path):
    d = KubernetesAPIDouble(tmp_path / "k8s").start()
    yield d
    d.stop()


def gc_pod(k8s, pod, workflow):
    k8s.pods[pod] = {"kind": "Pod", "metadata": {"name": pod, "namespace": k8s.namespace,
                                                  "labels": {"workflows.argoproj.io/workflow": workflow},
                                                  "annotations": {"workflows.argoproj.io/artifact-gc-strategy": "OnWorkflowCompletion"}}}


def test_decision_table(rgw, bucket, k8s, s3_env, tmp_path):
    s3 = rgw.boto3()
    (tmp_path / "f").write_bytes(b"x")
    results = {}
    for when, deleting in TABLE.items():
        for phase in ["Succeeded", "Failed", "Error", "Running"]:
            wf = f"wf-{when.lower()}-{phase.lower()}"
            k8s.workflows[wf] = {"kind": "Workflow", "metadata": {"name": wf}, "status": {"phase": phase}}
            gc_pod(k8s, f"{wf}-artgc-1", wf)
            cfg = rgw.config(bucket, extra=f"gc: {{when: {when}}}\n")
            env = dict(s3_env, **k8s.env(), HOSTNAME=f"{wf}-artgc-1")
            p = Plugin(workdir=tmp_path / wf, env=env).start()
            try:
                keys = [f"{wf}/a", f"{wf}/b", f"{wf}/dir/c"]
                for k in keys:
                    s3.put_object(Bucket=bucket, Key=k, Body=b"x")
                for k in [f"{wf}/a", f"{wf}/b", f"{wf}/dir"]:
                    r = p.stub().Delete(pb.DeleteArtifactRequest(artifact=artifact(k, cfg)))
                    assert r.success, r.error
                left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{wf}/").get("Contents", [])]
                deleted = left == []
                assert deleted == (phase in deleting), (when, phase, left, p.log())
                assert deleted or left == sorted(keys)
                if when != "Always":
                    # three artifacts, one lookup of the workflow
                    assert k8s.count(f"/workflows/{wf}") == 1
                    assert ("kept by policy" in p.log()) == (not deleted)
                    if not deleted:
                        assert f"workflow {wf} is {phase}" in p.log()
                results[(when, phase)] = "delete" if deleted else "keep"
            finally:
                p.stop()
    print("decision table:", results)


@pytest.mark.parametrize("on_unknown,expect_deleted", [("delete", True), ("keep", False)])
@pytest.mark.parametrize("failure", ["forbidden", "workflow-gone", "not-in-cluster"])
def test_unknown_outcome_follows_on_unknown(rgw, bucket, k8s, s3_env, tmp_path, on_unknown, expect_deleted, failure):
    s3 = rgw.boto3()
    wf = f"wf-unknown-{failure}"
    env = dict(s3_env, ARGO_WORKFLOW_NAME=wf)
    if failure == "forbidden":
        k8s.workflows[wf] = {"status": {"phase": "Failed"}}
        k8s.forbidden.add(("workflows", wf))
        env.update(k8s.env())
    elif failure == "workflow-gone":
        env.update(k8s.env())
    cfg = rgw.config(bucket, extra=f"gc: {{when: Succeeded, onUnknown: {on_unknown}}}\n")
    s3.put_object(Bucket=bucket, Key=f"{wf}/a", Body=b"x")
    p = Plugin(workdir=tmp_path / "p", env=env).start()
    try:
        r = p.stub().Delete(pb.DeleteArtifactRequest(artifact=artifact(f"{wf}/a", cfg)))
        assert r.success, r.error
        gone = "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"{wf}/")
        assert gone == expect_deleted
        assert "outcome is unknown" in p.log() and f"gc.onUnknown is {on_unknown}" in p.log()
        reason = {"forbidden": "403", "workflow-gone": "not found", "not-in-cluster": "not running in a Kubernetes pod"}[failure]
        assert reason in p.log()
    finally:
        p.stop()


def test_fifty_concurrent_deletes_read_the_pod_and_the_workflow_once(rgw, bucket, k8s, s3_env, tmp_path):
    """Argo's GC pod may send every Delete of a workflow at once: the outcome lookup is
    single-flight, so the pod and the workflow are read once however many arrive together."""
    from concurrent.futures import ThreadPoolExecutor
    wf = "wf-burst"
    k8s.workflows[wf] = {"kind": "Workflow", "metadata": {"name": wf}, "status": {"phase": "Succeeded"}}
    gc_pod(k8s, f"{wf}-artgc-1", wf)
    k8s.delay = 0.2          # the API answers slowly: every Delete arrives while the first lookup runs
    s3 = rgw.boto3()
    for i in range(50):
        s3.put_object(Bucket=bucket, Key=f"{wf}/a{i}", Body=b"x")
    cfg = rgw.config(bucket, extra="gc: {when: Succeeded}\n")
    p = Plugin(workdir=tmp_path / "p", env=dict(s3_env, **k8s.env(), HOSTNAME=f"{wf}-artgc-1")).start()
    try:
        stub = p.stub()
        with ThreadPoolExecutor(50) as pool:
            rs = list(pool.map(lambda i: stub.Delete(pb.DeleteArtifactRequest(artifact=artifact(f"{wf}/a{i}", cfg))), range(50)))
        assert all(r.success for r in rs), [r.error for r in rs if not r.success][:3]
        assert s3.list_objects_v2(Bucket=bucket, Prefix=f"{wf}/").get("KeyCount", 0) == 0
        pod_gets, wf_gets = k8s.count(f"/pods/{wf}-artgc-1"), k8s.count(f"/workflows/{wf}")
        print(f"50 concurrent Deletes: {pod_gets} pod GET(s), {wf_gets} workflow GET(s)")
        assert (pod_gets, wf_gets) == (1, 1)
    finally:
        p.stop()
