"""What `make run` prints (scripts/print-run-commands.sh) is text to paste, never run while
printing, and each printed command works against the plugin serving on that socket."""
import os
import subprocess
from pathlib import Path

from harness import REPO, Plugin


def printed_commands(text):
    """The printed shell commands, continuation lines joined."""
    commands, current = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not current and not (line.startswith("curl ") or ".venv/bin/python" in line):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(current)
            current = ""
    return commands


def test_run_commands_are_printed_not_run_and_they_work(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "data").mkdir(parents=True)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    marker = tmp_path / "make-was-run"
    (fake_bin / "make").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (fake_bin / "make").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake_bin}:{os.environ['PATH']}")
    out = subprocess.run([str(REPO / "scripts" / "print-run-commands.sh"), str(run_dir)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert not marker.exists(), "printing the commands ran `make`"
    assert "'make venv'" in out.stdout

    commands = printed_commands(out.stdout)
    assert len(commands) == 3, commands
    save, listing, stream = commands
    plugin = Plugin(workdir=tmp_path / "p", socket_path=run_dir / "plugin.sock").start()
    try:
        r = subprocess.run(["bash", "-c", save], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and '"success":true' in r.stdout.replace(" ", ""), (r.stdout, r.stderr)
        r = subprocess.run(["bash", "-c", listing], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "demo/README.md" in r.stdout, (r.stdout, r.stderr)
        r = subprocess.run(["bash", "-c", stream], cwd=REPO, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == Path(REPO / "README.md").read_bytes()
    finally:
        plugin.stop()
