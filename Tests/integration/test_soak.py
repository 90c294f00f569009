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
    # Idle RSS and malloc's in-use bytes held to 10 % here as in `make soak`. (Idle RSS once got
    # 50 %: a second malloc arena kept up to its 16 MiB trim threshold of free top resident after
    # bursts, -7 ... +33 % at random; with a 2 MiB threshold three 3-minute runs gave +3.0, +0.8
    # and -2.8 %, and the 30-minute soak +0.7 %.)
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "soak.py"), "--minutes", minutes],
                         capture_output=True, text=True, timeout=int(float(minutes) * 60) + 600)
    print(out.stdout[-4000:])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
