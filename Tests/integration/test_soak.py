"""The long soak's short version (scripts/soak.py; `make soak` runs it for 30 minutes): a steady
mix of transfers through a failing store for SOAK_MINUTES (default 3), RSS and open file
descriptors sampled every 10 s, both flat after warm-up (malloc's in-use bytes too), every transfer honest."""
import os
import subprocess
import sys

from harness import REPO, require_tool


def test_soak_keeps_memory_and_descriptors_flat():
    require_tool("radosgw", "radosgw")
    minutes = os.environ.get("SOAK_MINUTES", "3")
    # Idle RSS gets 50 % here, malloc's in-use bytes the full 10 % (+512 KiB): in runs of 1.5 to
    # 3 minutes malloc's arena fragmentation moved idle RSS by -7 … +33 % while in-use bytes
    # stayed flat (the open part of the sidecar-limits issue); `make soak` keeps RSS at 10 %.
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "soak.py"), "--minutes", minutes,
                          "--rss-tolerance", "0.5"],
                         capture_output=True, text=True, timeout=int(float(minutes) * 60) + 600)
    print(out.stdout[-4000:])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
