"""Self-tests of the OSS test double, with the official SDK (alibabacloud-oss-v2) as the client:
every request the SDK sends must verify against the SDK's own V4 signer, and the double must
answer in the shapes the SDK parses."""
import base64
import datetime
import hashlib
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import alibabacloud_oss_v2 as oss
import pytest

from doubles.oss_double import OSSDouble, crc64

ORACLE = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "oracles", "ossv4_sdk.py")
KiB = 1024


@pytest.fixture
def double():
    d = OSSDouble(bucket="argo-artifacts", restore_seconds=0.3).start()
    yield d
    d.stop()


def client(d, ak=None, sk=None, token=None, region=None, **cfgargs):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        ak or d.access_key, sk or d.secret_key, token)
    cfg.region = region or d.region
    cfg.endpoint = d.url
    cfg.use_path_style = True
    cfg.retry_max_attempts = 1
    for k, v in cfgargs.items():
        setattr(cfg, k, v)
    return oss.Client(cfg)


def service_error(excinfo):
    e = excinfo.value
    se = e.unwrap() if hasattr(e, "unwrap") else e
    return se.status_code, se.code


def test_crc64_is_crc64_xz():
    import oss2.utils
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA
    data = os.urandom(10000)
    c = oss2.utils.Crc64()
    c.update(data)
    assert crc64(data) == c.crc
    assert crc64(data[5000:], crc64(data[:5000])) == crc64(data)


def test_put_get_head_list_delete(double):
    c = client(double)
    b = double.bucket
    keys = ["dir/a.txt", "dir/sub/b.bin", "dir/spaces and ünïcode+plus.txt", "top.txt", "dir/c%2F.txt"]
    for i, k in enumerate(keys):
        body = ("payload %d " % i).encode() * (i + 1)
        r = c.put_object(oss.PutObjectRequest(bucket=b, key=k, body=body))
        assert r.etag == '"%s"' % hashlib.md5(body).hexdigest().upper()
        assert int(r.hash_crc64) == crc64(body)
        assert double.get(k) == body

    g = c.get_object(oss.GetObjectRequest(bucket=b, key="dir/sub/b.bin"))
    assert g.body.read() == double.get("dir/sub/b.bin") and g.content_length == len(double.get("dir/sub/b.bin"))
    assert int(g.hash_crc64) == crc64(double.get("dir/sub/b.bin"))
    g = c.get_object(oss.GetObjectRequest(bucket=b, key="dir/sub/b.bin", range_header="bytes=2-5"))
    assert g.body.read() == double.get("dir/sub/b.bin")[2:6] and g.status_code == 206
    assert int(g.hash_crc64) == crc64(double.get("dir/sub/b.bin"))  # whole object's CRC on a range
    g = c.get_object(oss.GetObjectRequest(bucket=b, key="top.txt", range_header="bytes=3-"))
    assert g.body.read() == double.get("top.txt")[3:]

    h = c.head_object(oss.HeadObjectRequest(bucket=b, key="top.txt"))
    assert h.content_length == len(double.get("top.txt")) and h.storage_class == "Standard"
    assert int(h.hash_crc64) == crc64(double.get("top.txt"))
    assert h.etag == double.objects()["top.txt"].etag and h.last_modified is not None

    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.get_object(oss.GetObjectRequest(bucket=b, key="missing"))
    assert service_error(ei) == (404, "NoSuchKey")
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.head_object(oss.HeadObjectRequest(bucket=b, key="missing"))  # error from x-oss-err on HEAD
    assert service_error(ei) == (404, "NoSuchKey")
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.get_object(oss.GetObjectRequest(bucket=b, key="top.txt", if_match='"0123"'))
    assert service_error(ei) == (412, "PreconditionFailed")
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.put_object(oss.PutObjectRequest(bucket=b, key="x", body=b"abc",
                                          content_md5=base64.b64encode(hashlib.md5(b"abd").digest()).decode()))
    assert service_error(ei) == (400, "InvalidDigest")

    # ListObjectsV2: delimiter, url-encoded keys, pagination with continuation tokens
    r = c.list_objects_v2(oss.ListObjectsV2Request(bucket=b, prefix="dir/", delimiter="/"))
    assert sorted(o.key for o in r.contents) == sorted(k for k in keys if k.startswith("dir/") and "/" not in k[4:])
    assert [p.prefix for p in r.common_prefixes] == ["dir/sub/"]
    seen, token = [], None
    while True:
        r = c.list_objects_v2(oss.ListObjectsV2Request(bucket=b, max_keys=2, continuation_token=token))
        seen += [o.key for o in r.contents]
        assert all(o.size == len(double.get(o.key)) and o.etag == double.objects()[o.key].etag for o in r.contents)
        if not r.is_truncated:
            break
        token = r.next_continuation_token
    assert seen == sorted(keys)

    c.delete_object(oss.DeleteObjectRequest(bucket=b, key="top.txt"))
    assert double.get("top.txt") is None
    r = c.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
        bucket=b, objects=[oss.DeleteObject(key=k) for k in keys], quiet=True))
    assert not r.deleted_objects and double.objects() == {}
    # every request verified: nothing was let through unsigned
    assert double.verified == sum(double.counts.values()) and double.signature_failures == 0


def test_multipart_upload(double):
    c = client(double)
    b, key = double.bucket, "big/object.bin"
    parts_data = [os.urandom(100 * KiB), os.urandom(100 * KiB), os.urandom(777)]
    init = c.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=b, key=key))
    other = c.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=b, key="big/abandoned"))
    parts = []
    for n, data in enumerate(parts_data, 1):
        r = c.upload_part(oss.UploadPartRequest(bucket=b, key=key, upload_id=init.upload_id, part_number=n,
                                                body=data))
        assert int(r.hash_crc64) == crc64(data)
        parts.append(oss.UploadPart(part_number=n, etag=r.etag))
    lp = c.list_parts(oss.ListPartsRequest(bucket=b, key=key, upload_id=init.upload_id))
    assert [(p.part_number, p.size) for p in lp.parts] == [(1, 100 * KiB), (2, 100 * KiB), (3, 777)]
    lu = c.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=b, prefix="big/"))
    assert sorted((u.key, u.upload_id) for u in lu.uploads) == sorted(
        [(key, init.upload_id), ("big/abandoned", other.upload_id)])

    # parts out of order are refused
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=b, key=key, upload_id=init.upload_id,
            complete_multipart_upload=oss.CompleteMultipartUpload(parts=[parts[1], parts[0]])))
    assert service_error(ei) == (400, "InvalidPartOrder")
    r = c.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=b, key=key, upload_id=init.upload_id, complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts)))
    whole = b"".join(parts_data)
    assert r.etag.endswith('-3"') and double.get(key) == whole
    assert int(r.hash_crc64) == crc64(whole)
    assert c.get_object(oss.GetObjectRequest(bucket=b, key=key)).body.read() == whole

    c.abort_multipart_upload(oss.AbortMultipartUploadRequest(bucket=b, key="big/abandoned", upload_id=other.upload_id))
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.list_parts(oss.ListPartsRequest(bucket=b, key="big/abandoned", upload_id=other.upload_id))
    assert service_error(ei) == (404, "NoSuchUpload")
    assert double.uploads() == {}
    assert double.counts["UploadPart"] == 3 and double.verified == sum(double.counts.values())


def test_signature_and_credential_failures(double):
    b = double.bucket
    with pytest.raises(oss.exceptions.OperationError) as ei:
        client(double, sk="wrong-secret").put_object(oss.PutObjectRequest(bucket=b, key="k", body=b"x"))
    assert service_error(ei) == (403, "SignatureDoesNotMatch")
    assert double.last_signature_error["canonical_request"].startswith("PUT\n/argo-artifacts/k\n")
    with pytest.raises(oss.exceptions.OperationError) as ei:
        client(double, ak="LTAIunknown").get_object(oss.GetObjectRequest(bucket=b, key="k"))
    assert service_error(ei) == (403, "InvalidAccessKeyId")
    with pytest.raises(oss.exceptions.OperationError) as ei:
        client(double, region="cn-beijing").get_object(oss.GetObjectRequest(bucket=b, key="k"))
    assert service_error(ei)[0] == 400

    double.add_credentials("STS.ak", "sts-secret", token="sts-token")
    client(double, ak="STS.ak", sk="sts-secret", token="sts-token").put_object(
        oss.PutObjectRequest(bucket=b, key="k", body=b"x"))
    with pytest.raises(oss.exceptions.OperationError) as ei:
        client(double, ak="STS.ak", sk="sts-secret").get_object(oss.GetObjectRequest(bucket=b, key="k"))
    assert service_error(ei) == (403, "InvalidAccessKeyId")
    double.expire_token("STS.ak")
    with pytest.raises(oss.exceptions.OperationError) as ei:
        client(double, ak="STS.ak", sk="sts-secret", token="sts-token").get_object(
            oss.GetObjectRequest(bucket=b, key="k"))
    assert service_error(ei) == (403, "SecurityTokenExpired")
    assert double.signature_failures == 1


def test_archive_restore(double):
    c = client(double)
    b = double.bucket
    c.put_object(oss.PutObjectRequest(bucket=b, key="cold", body=b"frozen", storage_class="Archive"))
    double.put("colder", b"ice")
    double.archive("colder", "ColdArchive")
    for key in ("cold", "colder"):
        with pytest.raises(oss.exceptions.OperationError) as ei:
            c.get_object(oss.GetObjectRequest(bucket=b, key=key))
        assert service_error(ei) == (403, "InvalidObjectState")
    assert c.head_object(oss.HeadObjectRequest(bucket=b, key="cold")).storage_class == "Archive"
    r = c.restore_object(oss.RestoreObjectRequest(bucket=b, key="cold"))
    assert r.status_code == 202
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.restore_object(oss.RestoreObjectRequest(bucket=b, key="cold"))
    assert service_error(ei) == (409, "RestoreAlreadyInProgress")
    assert c.head_object(oss.HeadObjectRequest(bucket=b, key="cold")).restore == 'ongoing-request="true"'
    time.sleep(double.restore_seconds + 0.05)
    h = c.head_object(oss.HeadObjectRequest(bucket=b, key="cold"))
    assert h.restore.startswith('ongoing-request="false", expiry-date="')
    assert c.get_object(oss.GetObjectRequest(bucket=b, key="cold")).body.read() == b"frozen"


def test_corrupt_next_part_and_object(double):
    b = double.bucket
    # a client that does not check CRCs itself: the header tells the truth about what was stored
    raw = client(double, disable_upload_crc64_check=True, disable_download_crc64_check=True)
    init = raw.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=b, key="p"))
    data = os.urandom(4096)
    double.corrupt_next_part = True
    r = raw.upload_part(oss.UploadPartRequest(bucket=b, key="p", upload_id=init.upload_id, part_number=1, body=data))
    assert int(r.hash_crc64) != crc64(data) and not double.corrupt_next_part
    r = raw.upload_part(oss.UploadPartRequest(bucket=b, key="p", upload_id=init.upload_id, part_number=2, body=data))
    assert int(r.hash_crc64) == crc64(data)
    # the SDK's own upload CRC check catches it
    double.corrupt_next_part = True
    with pytest.raises(Exception) as ei:
        client(double).upload_part(oss.UploadPartRequest(bucket=b, key="p", upload_id=init.upload_id,
                                                         part_number=3, body=data))
    assert "crc" in str(ei.value).lower()

    payload = os.urandom(1000)
    raw.put_object(oss.PutObjectRequest(bucket=b, key="o", body=payload))
    double.corrupt_object("o")
    g = raw.get_object(oss.GetObjectRequest(bucket=b, key="o"))
    got = g.body.read()
    assert got != payload and int(g.hash_crc64) == crc64(payload) != crc64(got)


def test_fault_injection_and_counts(double):
    c = client(double)
    b = double.bucket
    double.fail_next("PutObject", 503, "ServiceBusy", times=2)
    for _ in range(2):
        with pytest.raises(oss.exceptions.OperationError) as ei:
            c.put_object(oss.PutObjectRequest(bucket=b, key="f", body=b"1"))
        assert service_error(ei) == (503, "ServiceBusy")
    c.put_object(oss.PutObjectRequest(bucket=b, key="f", body=b"1"))
    double.fail_next("GetObject", 400, "RequestTimeout")
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.get_object(oss.GetObjectRequest(bucket=b, key="f"))
    assert service_error(ei) == (400, "RequestTimeout")
    assert c.get_object(oss.GetObjectRequest(bucket=b, key="f")).body.read() == b"1"
    assert double.counts["PutObject"] == 3 and double.counts["GetObject"] == 2
    assert [r["status"] for r in double.requests if r["op"] == "PutObject"] == [503, 503, 200]


def test_bucket_operations(double):
    c = client(double)
    b = double.bucket
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.get_bucket_lifecycle(oss.GetBucketLifecycleRequest(bucket=b))
    assert service_error(ei) == (404, "NoSuchLifecycle")
    c.put_bucket_lifecycle(oss.PutBucketLifecycleRequest(bucket=b, lifecycle_configuration=oss.LifecycleConfiguration(
        rules=[oss.LifecycleRule(id="gc", prefix="wf/", status="Enabled",
                                 expiration=oss.LifecycleRuleExpiration(days=7))])))
    stored = double.lifecycle()
    assert b"<ID>gc</ID>" in stored and b"<Days>7</Days>" in stored
    r = c.get_bucket_lifecycle(oss.GetBucketLifecycleRequest(bucket=b))
    assert r.lifecycle_configuration.rules[0].expiration.days == 7
    info = c.get_bucket_info(oss.GetBucketInfoRequest(bucket=b))
    assert info.bucket_info.name == b
    c.put_bucket(oss.PutBucketRequest(bucket="second"))
    c.put_object(oss.PutObjectRequest(bucket="second", key="k", body=b"2"))
    assert double.get("k", bucket="second") == b"2"
    with pytest.raises(oss.exceptions.OperationError) as ei:
        c.get_object(oss.GetObjectRequest(bucket="nope", key="k"))
    assert service_error(ei) == (404, "NoSuchBucket")


def test_presigned_url(double):
    c = client(double)
    c.put_object(oss.PutObjectRequest(bucket=double.bucket, key="shared/x y.txt", body=b"presigned"))
    url = c.presign(oss.GetObjectRequest(bucket=double.bucket, key="shared/x y.txt"),
                    expires=datetime.timedelta(minutes=5)).url
    assert urllib.request.urlopen(url).read() == b"presigned"
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(url.replace("x-oss-signature=", "x-oss-signature=0"))
    assert ei.value.code == 403 and b"SignatureDoesNotMatch" in ei.value.read()

    # presigned by the oracle, with an STS token; and one that has expired
    double.add_credentials("STS.p", "sts-secret", token="tok/en+=")
    now = int(time.time())
    reqs = [{"method": "GET", "url": "%s/%s/shared/x%%20y.txt" % (double.url, double.bucket), "headers": [],
             "bucket": double.bucket, "key": "shared/x y.txt", "access": "STS.p", "secret": "sts-secret",
             "token": "tok/en+=", "region": double.region, "date": date, "presign": True, "expires": 60}
            for date in (now, now - 3600)]
    fresh, stale = json.loads(subprocess.run([sys.executable, ORACLE], input=json.dumps(reqs), capture_output=True,
                                             text=True, check=True).stdout)
    assert urllib.request.urlopen(fresh["url"]).read() == b"presigned"
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(stale["url"])
    assert ei.value.code == 403 and b"<Code>AccessDenied</Code>" in ei.value.read()


def test_oracle_signed_requests_verify_and_keep_alive(double):
    """Requests signed by scripts/oracles/ossv4_sdk.py, sent over one keep-alive connection."""
    double.put("dir/o b+j.txt", b"oracle")
    now = int(time.time())
    base = {"access": double.access_key, "secret": double.secret_key, "token": None, "region": double.region,
            "date": now, "bucket": double.bucket}
    reqs = [
        dict(base, method="GET", key="dir/o b+j.txt", url="http://%s/%s/dir/o%%20b%%2Bj.txt" % (double.endpoint, double.bucket),
             headers=[["Range", "bytes=0-1"]], additional_headers=["range"]),
        dict(base, method="GET", key=None, headers=[],
             url="http://%s/%s/?list-type=2&prefix=dir%%2F&encoding-type=url&delimiter=%%2F" % (double.endpoint, double.bucket)),
        dict(base, method="POST", key="dir/new", headers=[["Content-Type", "application/octet-stream"]],
             url="http://%s/%s/dir/new?uploads" % (double.endpoint, double.bucket)),
    ]
    out = json.loads(subprocess.run([sys.executable, ORACLE], input=json.dumps(reqs), capture_output=True,
                                    text=True, check=True).stdout)
    conn = http.client.HTTPConnection(double.host, double.port, timeout=5)
    statuses = []
    for r, signed in zip(reqs, out):
        assert set(signed) == {"authorization", "x-oss-date", "x-oss-content-sha256", "date"}
        headers = dict(r["headers"])
        headers.update({"Authorization": signed["authorization"], "x-oss-date": signed["x-oss-date"],
                        "x-oss-content-sha256": signed["x-oss-content-sha256"], "Date": signed["date"]})
        conn.request(r["method"], r["url"].split(double.endpoint, 1)[1], headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        statuses.append(resp.status)
        assert resp.getheader("x-oss-request-id")
        if r["method"] == "GET" and r["key"]:
            assert body == b"or" and resp.getheader("x-oss-hash-crc64ecma") == str(crc64(b"oracle"))
    # anonymous and stale requests on the same connection
    conn.request("GET", "/%s/dir/new" % double.bucket)
    resp = conn.getresponse()
    assert resp.status == 403 and b"<Code>AccessDenied</Code>" in resp.read()
    conn.close()
    assert statuses == [206, 200, 200]
    assert double.verified == 3
