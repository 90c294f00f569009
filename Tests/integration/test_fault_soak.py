"""200 transfers through the fault proxy in front of RGW, 4 at a time: 10 % of requests answered
503 (SlowDown / ServiceUnavailable), 2 % connections reset, 1 % answers that stall. Save, Load,
OpenStream, SaveStream and directory Delete of 1–64 MiB. Every transfer must succeed with equal
bytes or fail with a clear error after its retries; afterwards no partial object, no multipart
upload left, no stream that ended with is_end but short."""
import os

import pytest

from harness import Plugin
from workload import Workload, add_store_faults, run_mix

# (transfers, 503 rate, reset rate, stall rate, least share that must succeed)
PROFILES = {
    "issue-mix": (int(os.environ.get("ARGO_PLUGIN_FAULT_SOAK_TRANSFERS", "200")), 0.10, 0.02, 0.01, 0.9),
    # A store failing so often that retries run out: the failures must be as honest as the successes.
    "harsh": (60, 0.30, 0.05, 0.02, 0.0),
}


@pytest.mark.parametrize("profile", PROFILES)
def test_transfers_through_a_failing_store(rgw, bucket, proxy, s3_env, tmp_path, profile):
    transfers, slowdown, reset, stall, least = PROFILES[profile]
    cfg = rgw.config(bucket, endpoint=proxy.endpoint,
                     extra=f"multipart: {{threshold: 8Mi, partSize: 8Mi, concurrency: 4, checkpointDir: {tmp_path / 'ckpt'}}}\n"
                           "load: {partSize: 8Mi, concurrency: 4}\n"
                           "timeouts: {connect: 3s, stall: 2s}\n")
    p = Plugin(workdir=tmp_path / "p", env=s3_env).start()
    try:
        work = Workload(p.stub(), rgw.boto3(), bucket, cfg, str(tmp_path / "work"), seed=11)
        add_store_faults(proxy, seed=5, slowdown=slowdown, reset=reset, stall=stall)
        errors = run_mix(work, transfers=transfers, parallel=4)
        injected = {r.action + ("/" + r.code if r.action == "status" else ""): r.fired for r in proxy.rules}
        proxy.clear_rules()
        t = work.tally
        uploads = work.open_uploads()
        print(f"\nfault soak ({profile}): {transfers} transfers, {t.ok} succeeded with equal bytes, {t.failed_clearly} failed with a clear "
              f"error, {len(t.partial_objects)} partial objects, {len(uploads)} multipart uploads left, "
              f"{len(t.lying_ends)} stream ends that lie, {t.complete_despite_error} stored whole though reported failed; "
              f"by kind: {t.by_kind}; {proxy.count()} requests through the proxy, faults injected: {injected}")
        for kind, text in t.failures[:5]:
            print(f"  failed {kind}: {text}")
        assert not errors, errors[:5]
        assert t.ok + t.failed_clearly == transfers, t.problems()
        assert not any(t.problems().values()), t.problems()
        assert uploads == [], [u["Key"] for u in uploads]
        assert t.ok >= transfers * least, f"only {t.ok} of {transfers} succeeded: the retries do not absorb the faults"
        assert p.proc.poll() is None, "the plugin died"
        assert "Fatal error" not in p.log()
    finally:
        p.stop()
