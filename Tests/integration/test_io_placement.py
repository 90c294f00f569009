"""Where file I/O runs, seen from the kernel: the plugin under strace through a Save (multipart),
a Load (parallel ranged GETs), an OpenStream and a directory Save against RGW. Every system call
on a file (reads, writes, fsync, copies) must come from the I/O pool's threads (`io-N`) or the
log writer (`log`), never from the curl thread or the HTTP/2 loop, and never from the threads
of Swift's cooperative pool."""
import os
import re
import signal
import subprocess
import time

from harness import MiB, Plugin, artifact, pattern_file, pb, plugin_binary, require_tool, wait_for_socket

FILE_CALLS = ("read", "write", "pread64", "pwrite64", "fsync", "fdatasync", "copy_file_range", "sync_file_range",
              "ftruncate", "openat", "getdents64", "unlinkat", "renameat", "renameat2", "mkdirat", "newfstatat", "statx")


def thread_names(pid):
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names[int(tid)] = f.read().strip()
        except OSError:
            pass
    return names


def test_file_io_runs_only_on_the_io_pool(rgw, bucket, s3_env, tmp_path):
    strace = require_tool("strace", "strace")
    work = tmp_path / "data"
    work.mkdir()
    src = pattern_file(work / "src.bin", 40 * MiB)
    tree = work / "tree"
    (tree / "sub").mkdir(parents=True)
    for i in range(20):
        (tree / "sub" / f"f{i}.txt").write_bytes(os.urandom(5000))
    sock = str(tmp_path / "p.sock")
    trace = tmp_path / "trace.txt"
    env = dict(os.environ, **s3_env)
    proc = subprocess.Popen([strace, "-f", "-qq", "-y", "-e", "trace=" + ",".join(FILE_CALLS), "-o", str(trace),
                             plugin_binary(), sock], env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "plugin.log", "wb"))
    names = {}
    try:
        wait_for_socket(sock, timeout=30)
        plugin_pid = int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()[0])
        import grpc
        from harness import pb_grpc
        stub = pb_grpc.ArtifactServiceStub(grpc.insecure_channel(f"unix://{sock}"))
        cfg = rgw.config(bucket, extra=f"multipart: {{threshold: 8Mi, partSize: 8Mi, checkpointDir: {tmp_path / 'ckpt'}}}\n"
                                         "load: {partSize: 8Mi, concurrency: 4}\n")
        r = stub.Save(pb.SaveArtifactRequest(path=str(src), output_artifact=artifact("io/big", cfg)), timeout=300)
        assert r.success, r.error
        r = stub.Save(pb.SaveArtifactRequest(path=str(tree), output_artifact=artifact("io/tree", cfg)), timeout=300)
        assert r.success, r.error
        r = stub.Load(pb.LoadArtifactRequest(path=str(work / "back.bin"), input_artifact=artifact("io/big", cfg)), timeout=300)
        assert r.success, r.error
        got = sum(len(m.data) for m in stub.OpenStream(pb.OpenStreamRequest(artifact=artifact("io/big", cfg)), timeout=300))
        assert got == 40 * MiB
        names = thread_names(plugin_pid)
        os.kill(plugin_pid, signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert open(src, "rb").read() == open(work / "back.bin", "rb").read()

    by_thread = {}
    line_re = re.compile(r"^(\d+)\s+(\w+)\((\d+)?<([^>]*)>")
    for line in trace.read_text(errors="replace").splitlines():
        m = line_re.match(line)
        if not m:
            continue
        tid, call, path = int(m.group(1)), m.group(2), m.group(4)
        if not path.startswith("/") or path.startswith(("/dev/", "/proc/", "/sys/")):
            continue   # sockets, pipes, eventfds, epoll: not disk work
        if re.search(r"\.so(\.[0-9.]+)?$|/ld\.so\.cache$", path):
            continue   # the dynamic loader mapping shared libraries before main()
        name = names.get(tid, f"tid {tid}")
        by_thread.setdefault(name, {}).setdefault(call, 0)
        by_thread[name][call] += 1
    summary = {n: sum(c.values()) for n, c in by_thread.items()}
    print("file system calls by thread:", summary)
    data_calls = {"read", "write", "pread64", "pwrite64", "fsync", "fdatasync", "copy_file_range"}
    assert "curl-loop" in names.values() and "http2-loop" in names.values(), names
    for loop in ("curl-loop", "http2-loop"):
        assert loop not in by_thread, f"{loop} made file system calls: {by_thread.get(loop)}"
    # Transfer data moves only on the I/O pool (and the log on its own thread).
    io_data = sum(v for n, c in by_thread.items() if n.startswith("io-") for k, v in c.items() if k in data_calls)
    assert io_data > 40, by_thread
    for name, calls in by_thread.items():
        if name.startswith("io-") or name == "log":
            continue
        moved = {k: v for k, v in calls.items() if k in data_calls}
        assert not moved, f"thread {name} read or wrote files: {calls}"
