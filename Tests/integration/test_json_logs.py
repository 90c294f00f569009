"""JSON logs (--log-format json / ARGO_PLUGIN_LOG_FORMAT=json): one object per line with Argo's
keys (time, level, msg) and each call's fields; secrets never printed; text stays the default."""
import json
import subprocess

from harness import MiB, Plugin, artifact, pattern_file, pb, plugin_binary

SECRET = "CAIS-inline-sts-token-must-never-be-logged"


def lines(p):
    out = []
    for raw in p.log().splitlines():
        assert raw.startswith("{") and raw.endswith("}"), f"not one JSON object per line: {raw!r}"
        out.append(json.loads(raw))
    return out


def calls(p, rpc):
    return [l for l in lines(p) if l.get("rpc") == rpc]


def test_json_lines_carry_argos_keys_and_each_calls_fields(tmp_path, store):
    root, cfg = store
    p = Plugin(workdir=tmp_path / "p", args=["--log-format", "json"]).start()
    try:
        stub = p.stub()
        src = pattern_file(tmp_path / "in.bin", 3 * MiB)
        r = stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("wf/out.bin", cfg, name="main-logs")))
        assert r.success, r.error
        r = stub.Load(pb.LoadArtifactRequest(path=str(tmp_path / "missing"), input_artifact=artifact("wf/none", cfg)))
        assert not r.success
    finally:
        assert p.stop() == 0
    every = lines(p)
    assert every and all({"time", "level", "msg"} <= l.keys() for l in every), every[:3]
    assert every[0]["level"] == "INFO" and "serving gRPC and JSON" in every[0]["msg"]
    assert all(l["time"].endswith("Z") and l["time"][10] == "T" for l in every)
    save = calls(p, "Save")[0]
    assert save["level"] == "INFO" and save["artifact"] == "main-logs" and save["key"] == "wf/out.bin"
    assert save["bytes"] == 3 * MiB and isinstance(save["seconds"], float) and "error" not in save
    assert "ok" in save["msg"]
    load = calls(p, "Load")[0]
    assert load["level"] == "ERROR" and "artifact not found" in load["error"] and load["key"] == "wf/none"
    assert "bytes" not in load


def test_parts_and_retries_of_a_multipart_save(tmp_path, rgw, bucket, proxy, s3_env):
    p = Plugin(workdir=tmp_path / "p", env=dict(s3_env, ARGO_PLUGIN_LOG_FORMAT="json")).start()
    try:
        cfg = rgw.config(bucket, endpoint=proxy.endpoint, extra="multipart: {threshold: 5Mi, partSize: 5Mi}\n")
        proxy.add_rule(op="UploadPart", action="status", status=503, times=2)
        src = pattern_file(tmp_path / "big.bin", 17 * MiB)
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("wf/big.bin", cfg)), timeout=120)
        assert r.success, r.error
    finally:
        p.stop()
    save = calls(p, "Save")[0]
    assert save["parts"] == 4 and save["retries"] >= 2 and save["bytes"] == 17 * MiB, save


def test_no_secret_in_any_line(tmp_path, s3_env):
    """An inline token and Secret names in a configuration that fails: neither the token nor
    anything else of the configuration's values beyond what errors name reaches the log."""
    cfg = (f"endpoint: oss-cn-hangzhou.aliyuncs.com\nbucket: my-bucket\nuseSDKCreds: true\n"
           f"securityToken: {SECRET}\nretry: {{attempts: 1}}\ntimeouts: {{connect: 1s}}\n")
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-test-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "very-secret-key-value",
           "ARGO_PLUGIN_LOG_FORMAT": "json", "ARGO_PLUGIN_LOG_LEVEL": "debug"}
    p = Plugin(workdir=tmp_path / "p", env=env).start()
    try:
        src = tmp_path / "f"
        src.write_bytes(b"x")
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("k", cfg)), timeout=60)
        assert not r.success
        bad = f"{cfg}\nmultipart: [\n"   # a configuration error echoes no value
        r = p.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("k", bad)), timeout=60)
        assert not r.success
    finally:
        p.stop()
    text = p.log()
    assert calls(p, "Save"), text
    for secret in (SECRET, "very-secret-key-value"):
        assert secret not in text


def test_text_stays_the_default_and_a_bad_format_is_refused(tmp_path):
    p = Plugin(workdir=tmp_path / "p").start()
    p.stop()
    first = p.log().splitlines()[0]
    assert not first.startswith("{") and " info " in first
    out = subprocess.run([plugin_binary(), "--log-format", "yaml", str(tmp_path / "s.sock")], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "must be text or json" in out.stderr
