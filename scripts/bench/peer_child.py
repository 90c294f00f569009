"""The Python peers, one transfer per process (started by peers.py): boto3 / s3transfer, and
aws-c-s3 through awscrt. Clients are made and the bucket reached before the clock starts; the
child prints {"s": wall seconds, "cpu": its own user + system seconds (every thread)} of the
transfer alone, so interpreter start-up and imports are not counted.

  peer_child.py '{"op": ..., "endpoint": ..., "bucket": ..., "ak": ..., "sk": ..., ...}'

ops: boto3_upload, boto3_download (path, key, max_concurrency or null for the default
TransferConfig), boto3_put_tree (path, key = prefix, threads), crt_upload, crt_download (path, key).
"""
import json
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def boto3_client(a, pool=10):
    import boto3
    from botocore.config import Config
    c = boto3.client("s3", endpoint_url=a["endpoint"], aws_access_key_id=a["ak"], aws_secret_access_key=a["sk"],
                     region_name="us-east-1",
                     config=Config(s3={"addressing_style": "path"}, max_pool_connections=pool))
    c.head_bucket(Bucket=a["bucket"])   # credentials resolved and a connection open before timing
    return c


def transfer_config(a):
    from boto3.s3.transfer import TransferConfig
    return TransferConfig() if a.get("max_concurrency") is None else TransferConfig(
        max_concurrency=a["max_concurrency"])


def tree_files(root, prefix):
    out = []
    for dirpath, _, names in os.walk(root):
        for n in sorted(names):
            p = os.path.join(dirpath, n)
            out.append((p, prefix + "/" + os.path.relpath(p, root)))
    return out


class WithoutUploadChecksum:
    """The CRT S3 client, minus the trailing CRC32 that s3transfer.crt asks for on every upload
    (S3ClientArgsCreator._get_make_request_args_put_object sets it unconditionally; the botocore
    setting request_checksum_calculation="when_required" does not reach it). Ceph RGW 16 knows no
    x-amz-checksum-* trailers and refuses the aws-chunked body (XAmzContentSHA256Mismatch)."""

    def __init__(self, client):
        self._client = client

    def make_request(self, **kwargs):
        import awscrt.s3
        if kwargs.get("type") == awscrt.s3.S3RequestType.PUT_OBJECT:
            kwargs["checksum_config"] = None
        return self._client.make_request(**kwargs)


def crt_manager(a):
    """s3transfer's CRT transfer manager on a custom endpoint: boto3's create_transfer_manager
    ignores endpoint_url for the CRT (it would resolve <bucket>.s3.amazonaws.com), so the pieces
    are put together here. The CRT client's own defaults (part size 8 MiB, threads = CPUs,
    throughput target) are kept."""
    import awscrt.auth
    import botocore.session
    from botocore.config import Config
    from s3transfer.crt import BotocoreCRTRequestSerializer, CRTTransferManager, create_s3_crt_client
    session = botocore.session.Session()
    serializer = BotocoreCRTRequestSerializer(session, client_kwargs={
        "endpoint_url": a["endpoint"], "region_name": "us-east-1", "aws_access_key_id": a["ak"],
        "aws_secret_access_key": a["sk"], "config": Config(s3={"addressing_style": "path"})})
    credentials = awscrt.auth.AwsCredentialsProvider.new_static(a["ak"], a["sk"])
    client = create_s3_crt_client("us-east-1", crt_credentials_provider=credentials,
                                  use_ssl=a["endpoint"].startswith("https:"))
    return CRTTransferManager(WithoutUploadChecksum(client), serializer)


def main():
    a = json.loads(sys.argv[1])
    op = a["op"]
    if op.startswith("boto3"):
        threads = a.get("threads") or 10
        client = boto3_client(a, pool=max(threads, a.get("max_concurrency") or 10))
    if op == "boto3_put_tree":
        files = tree_files(a["path"], a["key"])
    if op.startswith("crt"):
        manager = crt_manager(a)
    c0, t0 = cpu(), time.perf_counter()
    if op == "boto3_upload":
        client.upload_file(a["path"], a["bucket"], a["key"], Config=transfer_config(a))
    elif op == "boto3_download":
        client.download_file(a["bucket"], a["key"], a["path"], Config=transfer_config(a))
    elif op == "boto3_put_tree":
        def put(item):
            path, key = item
            with open(path, "rb") as f:
                client.put_object(Bucket=a["bucket"], Key=key, Body=f.read())
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(put, files))
    elif op == "crt_upload":
        with manager:
            manager.upload(a["path"], a["bucket"], a["key"]).result()
    elif op == "crt_download":
        with manager:
            manager.download(a["bucket"], a["key"], a["path"]).result()
    else:
        raise SystemExit(f"unknown op {op}")
    print(json.dumps({"s": time.perf_counter() - t0, "cpu": cpu() - c0}))


if __name__ == "__main__":
    main()
