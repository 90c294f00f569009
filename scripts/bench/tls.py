"""tls: what TLS costs. The plugin's Save and Load of the big file, and one curl PUT, against the
same Ceph RGW over plain HTTP and over HTTPS (beast with a certificate for localhost signed by a
CA made for the run; the plugin gets the CA through caSecret, read from the Kubernetes API
double). The TLS cost per GiB is the difference in CPU seconds per GiB, on the client's side."""
import contextlib
import sys

from measure import RATE_HEADERS, Contender, big_size, med, per_gib, rate_rows, rounds, run_rounds, size_label
from peers import Curl
from plugin import PluginCalls, plugin_bin, running_plugin
from report import Broken
from scratch import REPO, SCRATCH, remove, sha256_file
from store import RGW_STORE

sys.path.insert(0, str(REPO / "Tests" / "integration"))
from doubles.k8s_api_double import KubernetesAPIDouble  # noqa: E402


class HTTPSCurl(Curl):
    """One curl PUT over HTTPS, trusting the run's CA."""

    def __init__(self, ca):
        super().__init__("curl https")
        self.ca = ca

    def upload(self, store, path, key):
        url = f"https://{store.tls_hostport}/{store.bucket}/{key}"
        return self._run(store, ["--cacert", str(self.ca), "-o", "/dev/null", "-T", str(path), url], f"PUT {key} (https)")


def run(report):
    report.header("tls: plugin Save and Load, and one curl PUT, over HTTP and over HTTPS (same RGW)")
    plugin_bin()
    rgw = RGW_STORE.start(report)
    size = big_size()
    src, src_sha = SCRATCH.source(report, size)
    out = SCRATCH.subdir(report, "tls-out")
    n = rounds()
    k8s = KubernetesAPIDouble(SCRATCH.subdir(report, "tls-k8s")).start()
    k8s.secrets["bench-ca"] = {"ca.crt": rgw.tls.ca_pem()}
    http = rgw.plugin_config()
    https = f"endpoint: https://{rgw.tls_hostport}\nbucket: {rgw.bucket}\nuseSDKCreds: true\ncaSecret: {{name: bench-ca, key: ca.crt}}\n"
    try:
        with running_plugin(SCRATCH.subdir(report, "plugin-tls"), env=dict(rgw.plugin_env, **k8s.env())) as p:
            calls = PluginCalls(p)

            def save(cfg, scheme):
                key = lambda i: f"tls/save-{scheme}-{i}"  # noqa: E731

                def do(i):
                    x = calls.save(src, key(i), cfg)
                    if i < 0 and rgw.sha256(key(i)) != src_sha:
                        raise Broken(f"plugin Save over {scheme} stored different bytes")
                    return x
                return Contender(do, lambda i: rgw.delete(key(i)), flags=f"plugin over {scheme}")

            def load(cfg, scheme):
                path = lambda i: out / f"load-{scheme}-{i}"  # noqa: E731

                def do(i):
                    x = calls.load("tls/object", path(i), cfg)
                    if i < 0 and sha256_file(path(i)) != src_sha:
                        raise Broken(f"plugin Load over {scheme} wrote different bytes")
                    return x
                return Contender(do, lambda i: remove(path(i)), flags=f"plugin over {scheme}")

            def put(peer, scheme):
                key = lambda i: f"tls/curl-{scheme}-{i}"  # noqa: E731
                return Contender(lambda i: peer.upload(rgw, src, key(i)), lambda i: rgw.delete(key(i)), flags=f"one PUT over {scheme}")

            calls.save(src, "tls/object", http)
            label_s, label_l = f"Save {size_label(size)}", f"Load {size_label(size)}"
            saves = {"plugin http": save(http, "http"), "plugin https": save(https, "https"),
                     "curl http": put(Curl("curl http"), "http"), "curl https": put(HTTPSCurl(rgw.tls.ca_cert), "https")}
            saved, _ = run_rounds(report, label_s, saves, n, store=rgw)
            loads = {"plugin http": load(http, "http"), "plugin https": load(https, "https")}
            loaded, _ = run_rounds(report, label_l, loads, n, store=rgw)
    finally:
        k8s.stop()
    report.table(RATE_HEADERS, rate_rows(label_s, saved, size, saves, reference="plugin http"))
    report.table(RATE_HEADERS, rate_rows(label_l, loaded, size, loads, reference="plugin http"))
    for label, results, pairs in ((label_s, saved, ("plugin", "curl")), (label_l, loaded, ("plugin",))):
        for who in pairs:
            a, b = per_gib(med(results[f"{who} http"], "cpu"), size), per_gib(med(results[f"{who} https"], "cpu"), size)
            report.say(f"TLS cost, {label}, {who}: {b - a:+.2f} CPU s/GiB ({a:.2f} over HTTP, {b:.2f} over HTTPS); "
                       f"{size / med(results[f'{who} http']) / 2**20:.0f} -> {size / med(results[f'{who} https']) / 2**20:.0f} MiB/s")
