"""Real cgroup v1 groups (memory and cpu controllers) for the sidecar-limits tests and the
benchmark's envelope: a process started with `preexec` joins them before it execs, as a
container's process starts inside its limits. Root can create groups here; elsewhere the tests
skip (and fail under CI=true, where every tool must be there)."""
import os
import uuid

MEMORY_ROOT = "/sys/fs/cgroup/memory"
CPU_ROOT = "/sys/fs/cgroup/cpu"


def _own_group(controller):
    """This process's group in a v1 hierarchy (new groups go below it, as a pod's do)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return path
    return "/"


def available():
    """None when groups can be made here, else why not."""
    if os.geteuid() != 0:
        return "creating cgroups needs root"
    for root in (MEMORY_ROOT, CPU_ROOT):
        if not os.path.exists(os.path.join(root, "cgroup.procs")):
            return f"no cgroup v1 hierarchy at {root}"
    return None


def require():
    import pytest
    why = available()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}", pytrace=False)
        pytest.skip(why)


class Cgroup:
    """A memory limit (MiB) and a CPU quota (cores), or either alone."""

    def __init__(self, memory_mib=None, cpus=None, name=None):
        self.name = name or f"argo-plugin-test-{uuid.uuid4().hex[:8]}"
        self.memory_mib, self.cpus = memory_mib, cpus
        self.mem_dir = os.path.join(MEMORY_ROOT + _own_group("memory"), self.name)
        self.cpu_dir = os.path.join(CPU_ROOT + _own_group("cpu"), self.name)
        os.makedirs(self.mem_dir, exist_ok=True)
        os.makedirs(self.cpu_dir, exist_ok=True)
        if memory_mib:
            self._write(self.mem_dir, "memory.limit_in_bytes", int(memory_mib) << 20)
            # No swap to escape to: the limit is the limit (memsw exists only with swap accounting).
            if os.path.exists(os.path.join(self.mem_dir, "memory.memsw.limit_in_bytes")):
                self._write(self.mem_dir, "memory.memsw.limit_in_bytes", int(memory_mib) << 20)
        if cpus:
            self._write(self.cpu_dir, "cpu.cfs_period_us", 100000)
            self._write(self.cpu_dir, "cpu.cfs_quota_us", int(cpus * 100000))

    @staticmethod
    def _write(d, name, value):
        with open(os.path.join(d, name), "w") as f:
            f.write(str(value))

    def _read(self, d, name):
        with open(os.path.join(d, name)) as f:
            return f.read()

    def preexec(self):
        """For subprocess.Popen(preexec_fn=...): the child joins both groups before exec."""
        mem, cpu = self.mem_dir, self.cpu_dir

        def join():
            pid = str(os.getpid())
            for d in (mem, cpu):
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(pid)
        return join

    def oom_kills(self):
        for line in self._read(self.mem_dir, "memory.oom_control").splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def peak_mib(self):
        """The group's peak charge (process memory and the page cache it touched)."""
        return int(self._read(self.mem_dir, "memory.max_usage_in_bytes")) / (1 << 20)

    def peak_rss_mib(self, pid):
        """VmHWM of a process still running: its own peak resident memory, file-backed pages
        (the binary and its libraries, reclaimable) included."""
        return _status_kib(pid, "VmHWM") / 1024

    def cpu_stat(self):
        out = {}
        for line in self._read(self.cpu_dir, "cpu.stat").splitlines():
            k, v = line.split()
            out[k] = int(v)
        return out

    def remove(self):
        for d in (self.mem_dir, self.cpu_dir):
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    pids = [int(p) for p in f.read().split()]
                for p in pids:
                    try:
                        os.kill(p, 9)
                    except ProcessLookupError:
                        pass
                os.rmdir(d)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


class PrivatePeak:
    """The peak of a process's private memory (RssAnon), sampled every 10 ms on a thread: what
    the plugin's memory budget governs. VmHWM adds the binary's file-backed pages (35 MiB for the
    debug build, reclaimable page cache), which vary with what the kernel keeps mapped."""

    def __init__(self, pid, interval=0.01):
        import threading
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _status_kib(self.pid, "RssAnon"))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024
