"""`make test-large` (opt-in): a 6 GiB file saved to RGW on bluestore and read back, over
S3's 5 GiB single-PUT limit end to end. Skipped unless ARGO_PLUGIN_LARGE=1."""
import hashlib
import os
import time

import pytest

from harness import artifact, pb

pytestmark = pytest.mark.skipif(os.environ.get("ARGO_PLUGIN_LARGE") != "1", reason="opt-in: make test-large")

GiB = 1 << 30
MiB = 1 << 20


def test_six_gib_round_trip(rgw, bucket, s3plugin, tmp_path):
    src = tmp_path / "six.bin"
    # Sparse except for a marker in every 64 MiB: the holes read as zeros, the markers catch
    # any misplaced part.
    with open(src, "wb") as f:
        f.truncate(6 * GiB)
        for i in range(0, 6 * GiB, 64 * MiB):
            f.seek(i)
            f.write(f"block {i // MiB} MiB".encode())
    h = hashlib.sha256()
    with open(src, "rb") as f:
        for b in iter(lambda: f.read(8 * MiB), b""):
            h.update(b)
    digest = h.hexdigest()
    cfg = rgw.config(bucket, extra="multipart: {partSize: 64Mi, concurrency: 4}\n")
    t0 = time.monotonic()
    r = s3plugin.stub().Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("large/six.bin", cfg)), timeout=3600)
    save_s = time.monotonic() - t0
    assert r.success, r.error
    head = rgw.boto3().head_object(Bucket=bucket, Key="large/six.bin")
    assert head["ContentLength"] == 6 * GiB and head["ETag"].endswith('-96"'), head["ETag"]
    t0 = time.monotonic()
    h = hashlib.sha256()
    n = 0
    for m in s3plugin.stub().OpenStream(pb.OpenStreamRequest(artifact=artifact("large/six.bin", cfg)), timeout=3600):
        h.update(m.data)
        n += len(m.data)
        if m.is_end:
            break
    stream_s = time.monotonic() - t0
    assert n == 6 * GiB and h.hexdigest() == digest
    print(f"6 GiB: save {save_s:.1f}s ({6 * 1024 / save_s:.0f} MiB/s, 96 parts), stream back {stream_s:.1f}s ({6 * 1024 / stream_s:.0f} MiB/s), sha256 equal")
