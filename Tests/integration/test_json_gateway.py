"""Every JSON route with curl over HTTP/2 (prior knowledge) on the Unix socket."""
import base64
import json

from harness import curl_json


def art(key, cfg, name="a"):
    return {"name": name, "plugin": {"name": "test", "configuration": cfg, "key": key}}


def test_every_route(plugin, store, tmp_path):
    root, cfg = store
    src = tmp_path / "in.txt"
    src.write_bytes(b"json route payload\n")
    status, text = curl_json(plugin.socket, "save", {"path": str(src), "outputArtifact": art("j/in.txt", cfg)})
    assert status == 200 and json.loads(text) == {"success": True, "error": ""}

    # original proto field names are accepted too
    status, text = curl_json(plugin.socket, "list", {"artifact": art("j", cfg)})
    assert status == 200 and json.loads(text)["objects"] == ["j/in.txt"]
    status, text = curl_json(plugin.socket, "is-directory", {"artifact": art("j", cfg)})
    assert json.loads(text) == {"isDirectory": True, "error": ""}
    status, text = curl_json(plugin.socket, "is-directory", {"artifact": art("j/in.txt", cfg)})
    assert json.loads(text) == {"isDirectory": False, "error": ""}

    status, text = curl_json(plugin.socket, "load", {"input_artifact": art("j/in.txt", cfg), "path": str(tmp_path / "out.txt")})
    assert status == 200 and json.loads(text)["success"] is True
    assert (tmp_path / "out.txt").read_bytes() == b"json route payload\n"

    status, text = curl_json(plugin.socket, "stream", {"artifact": art("j/in.txt", cfg)})
    lines = [json.loads(l) for l in text.strip().split("\n")]
    assert status == 200
    assert base64.b64decode(lines[0]["result"]["data"]) == b"json route payload\n"
    assert lines[-1] == {"result": {"isEnd": True}}

    status, text = curl_json(plugin.socket, "delete", {"artifact": art("j/in.txt", cfg)})
    assert json.loads(text) == {"success": True, "error": ""}
    assert not (root / "j" / "in.txt").exists()


def test_errors_map_to_http_statuses(plugin, store):
    root, cfg = store
    status, text = curl_json(plugin.socket, "nope", {})
    assert status == 404 and json.loads(text)["code"] == 5
    status, text = curl_json(plugin.socket, "load", "{not json")
    body = json.loads(text)
    assert status == 400 and body["code"] == 3 and "LoadArtifactRequest" in body["message"]
    status, text = curl_json(plugin.socket, "stream", {"artifact": art("missing/key", cfg)})
    body = json.loads(text)
    assert status == 404 and body["code"] == 5 and "missing/key" in body["message"]
    status, text = curl_json(plugin.socket, "list", {"artifact": art("x", cfg)}, extra=["-X", "GET"])
    assert status == 405


def test_failed_operation_is_success_false_with_reason(plugin, store):
    root, cfg = store
    status, text = curl_json(plugin.socket, "load", {"inputArtifact": art("no/such", cfg), "path": "/tmp/x"})
    body = json.loads(text)
    assert status == 200 and body["success"] is False
    assert "artifact not found" in body["error"] and "no/such" in body["error"]
