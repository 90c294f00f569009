"""Every part verified by the store, with the cheapest check that store enforces: on Ceph RGW
(signed SHA-256, Content-MD5) and on SeaweedFS (CRC-32C/CRC-32, Content-MD5) through the fault
proxy, which flips a byte of one part to prove the check is real. `auto` learns what a store
enforces with deliberately wrong probes and never settles on a check the store ignores."""
import base64
import re

import crcmod.predefined
import pytest

from harness import artifact, pattern_file, pb, sha256_file

MiB = 1 << 20
SIZE = 23 * MiB                    # 5 parts of 5 MiB (the last 3 MiB)
MULTIPART = "multipart: {threshold: 8Mi, partSize: 5Mi%s}\n"
crc32c = crcmod.predefined.mkCrcFun("crc-32c")


def data_part(r):
    """A part of the artifact (the probe's parts are a few dozen bytes)."""
    return r.op == "UploadPart" and (r.body_len or 0) > MiB


def data_parts(proxy):
    return [r for r in proxy.records("UploadPart") if data_part(r)]


def store_config(store, bucket, proxy, checksum=None):
    extra = MULTIPART % (f", checksum: {checksum}" if checksum else "")
    return store.config(bucket, endpoint=proxy.endpoint, extra=extra)


def save_with_a_flipped_part(store, bucket, proxy, plugin, tmp_path, key, checksum=None):
    """Saves 23 MiB in 5 parts while the proxy flips a byte of the third; returns the source."""
    src = pattern_file(tmp_path / "src", SIZE)
    proxy.add_rule(pred=data_part, action="flip", after=2, times=1)
    r = plugin.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact(key, store_config(store, bucket, proxy, checksum))))
    assert r.success, r.error
    parts = data_parts(proxy)
    assert len(parts) == 5 + 1, f"5 parts, the damaged one sent twice: {parts}"
    assert [r.action for r in parts].count("flip") == 1
    s3 = store.boto3()
    assert sha256_of(s3, bucket, key) == sha256_file(src), "the stored object is the file"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "no upload left (the probe's included)"
    return src


def sha256_of(s3, bucket, key):
    import hashlib
    h = hashlib.sha256()
    for b in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(MiB):
        h.update(b)
    return h.hexdigest()


def chosen(plugin_log):
    m = re.findall(r"part integrity for \S+: (\S+) \(", plugin_log)
    return m


# --- RGW: SHA-256 signed -----------------------------------------------------------------

def test_auto_on_rgw_signs_each_part_and_a_damaged_part_is_refused_and_resent(rgw, bucket, proxy, s3plugin, tmp_path):
    save_with_a_flipped_part(rgw, bucket, proxy, s3plugin, tmp_path, "auto/rgw")
    log = s3plugin.log()
    assert chosen(log) == ["sha256"], log[-3000:]
    assert "XAmzContentSHA256Mismatch" in log
    for r in data_parts(proxy):
        assert re.fullmatch(r"[0-9a-f]{64}", r.headers["x-amz-content-sha256"]), r.headers
        assert "content-md5" not in r.headers and "x-amz-checksum-crc32c" not in r.headers, "only the check RGW enforces"
    # RGW ignores x-amz-checksum-*: the probe must have seen it accept a wrong CRC-32C
    probes = [r for r in proxy.records("UploadPart") if not data_part(r)]
    assert any("x-amz-checksum-crc32c" in r.headers and r.status == 200 for r in probes), probes


def test_the_probe_runs_once_per_store_and_process(rgw, bucket, proxy, s3plugin, tmp_path):
    cfg = store_config(rgw, bucket, proxy)
    src = pattern_file(tmp_path / "src", 12 * MiB)
    for i in range(3):
        r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact(f"once/{i}", cfg)))
        assert r.success, r.error
    creates = proxy.records("CreateMultipartUpload")
    assert len(creates) == 3 + 2, f"3 uploads and the 2 probe uploads of the first: {creates}"
    assert proxy.op_count("AbortMultipartUpload") == 2


# --- SeaweedFS: CRC-32C -------------------------------------------------------------------

def test_auto_on_seaweedfs_sends_crc32c_and_a_damaged_part_is_refused_and_resent(seaweedfs, seaweed_proxy, s3plugin, tmp_path):
    bucket = seaweedfs.new_bucket()
    src = save_with_a_flipped_part(seaweedfs, bucket, seaweed_proxy, s3plugin, tmp_path, "auto/sw")
    log = s3plugin.log()
    assert chosen(log) == ["crc32c"], log[-3000:]
    assert "BadDigest" in log
    for r in data_parts(seaweed_proxy):
        assert r.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD", "SeaweedFS does not check a signed payload: no SHA-256 spent"
        assert "content-md5" not in r.headers
        assert re.fullmatch(r"[A-Za-z0-9+/]{6}==", r.headers["x-amz-checksum-crc32c"])
    creates = [r for r in seaweed_proxy.records("CreateMultipartUpload") if r.headers.get("x-amz-checksum-algorithm") == "CRC32C"]
    assert creates, "the upload declares its checksum"
    # The whole object: its composite CRC-32C is the CRC of the parts' CRCs, from the file.
    data = src.read_bytes()
    part_crcs = b"".join(crc32c(data[i:i + 5 * MiB]).to_bytes(4, "big") for i in range(0, SIZE, 5 * MiB))
    head = seaweedfs.boto3().head_object(Bucket=bucket, Key="auto/sw", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32C") == base64.b64encode(crc32c(part_crcs).to_bytes(4, "big")).decode() + "-5", head


def test_auto_never_settles_on_a_check_the_store_ignores(seaweedfs, seaweed_proxy, s3plugin, tmp_path):
    """SeaweedFS ignores a wrong signed SHA-256; made to ignore a wrong CRC-32C too (the proxy
    answers such parts 200 without forwarding them), the plugin must fall back to Content-MD5,
    which it does enforce."""
    bucket = seaweedfs.new_bucket()
    seaweed_proxy.add_rule(pred=lambda r: r.op == "UploadPart" and not data_part(r) and "x-amz-checksum-crc32c" in r.headers,
                           action="status", status=200, code="Ignored", times=None)
    save_with_a_flipped_part(seaweedfs, bucket, seaweed_proxy, s3plugin, tmp_path, "auto/ignored")
    log = s3plugin.log()
    assert chosen(log) == ["md5"], log[-3000:]
    for r in data_parts(seaweed_proxy):
        assert "content-md5" in r.headers
        assert "x-amz-checksum-crc32c" not in r.headers and r.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"


# --- explicit choices, each on a store that enforces it --------------------------------------

@pytest.mark.parametrize("server,checksum,refusal", [
    ("rgw", "md5", "BadDigest"),
    ("rgw", "sha256", "XAmzContentSHA256Mismatch"),
    ("seaweedfs", "crc32", "BadDigest"),
    ("seaweedfs", "crc32c", "BadDigest"),
    ("seaweedfs", "md5", "BadDigest"),
])
def test_explicit_checksum_is_enforced_and_a_damaged_part_resent(request, server, checksum, refusal, s3plugin, tmp_path):
    store = request.getfixturevalue(server)
    proxy = request.getfixturevalue("proxy" if server == "rgw" else "seaweed_proxy")
    bucket = store.new_bucket()
    save_with_a_flipped_part(store, bucket, proxy, s3plugin, tmp_path, f"explicit/{checksum}", checksum)
    log = s3plugin.log()
    assert refusal in log
    assert chosen(log) == [checksum]
    assert proxy.op_count("CreateMultipartUpload") == 1, "an explicit choice needs no probe"


def test_small_objects_keep_content_md5(rgw, bucket, proxy, s3plugin, tmp_path):
    """A single PUT is refused by every store when damaged, before the object is visible."""
    (tmp_path / "f").write_bytes(b"small" * 1000)
    proxy.add_rule(op="PutObject", action="flip", times=1)
    r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("small/x", store_config(rgw, bucket, proxy))))
    assert r.success, r.error
    puts = proxy.records("PutObject")
    assert len(puts) == 2 and all("content-md5" in p.headers for p in puts)
    assert rgw.boto3().get_object(Bucket=bucket, Key="small/x")["Body"].read() == b"small" * 1000


@pytest.mark.parametrize("provider,checksum,allowed", [
    ("s3", "crc64", "auto, md5, sha256, crc32, crc32c, none"),
    ("oss", "sha256", "auto, md5, crc64, none"),
    ("oss", "crc32c", "auto, md5, crc64, none"),
])
def test_a_check_the_store_cannot_verify_is_a_configuration_error(plugin, provider, checksum, allowed, tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    cfg = (f"provider: {provider}\nendpoint: 127.0.0.1:9\nbucket: bucket\ninsecure: true\nuseSDKCreds: true\n"
           f"multipart: {{checksum: {checksum}}}\n")
    r = plugin.stub().Save(pb.SaveArtifactRequest(path=str(tmp_path / "f"), output_artifact=artifact("k", cfg)))
    assert not r.success
    assert "multipart.checksum" in r.error and checksum in r.error and allowed in r.error, r.error
