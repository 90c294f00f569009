"""KubernetesAPIDouble: a local HTTPS stand-in for the Kubernetes API server (a test double:
no real cluster exists offline). It checks the bearer token, serves Secrets, Pods and Argo
Workflows from dictionaries, answers 403 for names listed as forbidden, and counts requests.
It also writes the service-account mount (token, ca.crt, namespace) the plugin reads."""
import base64
import datetime
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(dirpath: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-api-double")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (dirpath / "server.crt").write_bytes(cert_pem)
    (dirpath / "server.key").write_bytes(key_pem)
    return dirpath / "server.crt", dirpath / "server.key"


class KubernetesAPIDouble:
    def __init__(self, workdir: Path, namespace="argo", token="sa-token-123"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self.token = token
        self.secrets = {}       # name -> {key: value}
        self.pods = {}          # name -> pod object
        self.workflows = {}     # name -> workflow object
        self.forbidden = set()  # (kind, name)
        self.requests = []
        self.delay = 0.0        # seconds every answer waits (a slow API server)
        self.lock = threading.Lock()
        self.sa_dir = self.dir / "serviceaccount"
        self.sa_dir.mkdir(exist_ok=True)
        cert, key = _self_signed(self.dir)
        (self.sa_dir / "ca.crt").write_bytes(cert.read_bytes())
        (self.sa_dir / "token").write_text(token)
        (self.sa_dir / "namespace").write_text(namespace)
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert, key)

    def env(self):
        """Environment for the plugin process: where the API is and where the mount is."""
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port),
                "ARGO_PLUGIN_SERVICEACCOUNT_DIR": str(self.sa_dir)}

    def count(self, path_part):
        with self.lock:
            return sum(1 for r in self.requests if path_part in r)

    def start(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                with double.lock:
                    double.requests.append(self.path)
                if double.delay:
                    import time
                    time.sleep(double.delay)
                if self.headers.get("Authorization") != f"Bearer {double.token}":
                    return self._send(401, {"kind": "Status", "message": "Unauthorized", "code": 401})
                parts = self.path.split("?")[0].strip("/").split("/")
                # api/v1/namespaces/NS/secrets/NAME | apis/argoproj.io/v1alpha1/namespaces/NS/workflows/NAME
                try:
                    ns_i = parts.index("namespaces")
                    ns, kind, name = parts[ns_i + 1], parts[ns_i + 2], parts[ns_i + 3]
                except (ValueError, IndexError):
                    return self._send(404, {"kind": "Status", "message": "no such path", "code": 404})
                if (kind, name) in double.forbidden:
                    return self._send(403, {"kind": "Status", "code": 403, "reason": "Forbidden",
                                            "message": f'{kind} "{name}" is forbidden: User "system:serviceaccount:{ns}:default" cannot get resource "{kind}" in API group "" in the namespace "{ns}"'})
                table = {"secrets": double.secrets, "pods": double.pods, "workflows": double.workflows}.get(kind, {})
                if ns != double.namespace or name not in table:
                    return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": f'{kind} "{name}" not found'})
                obj = table[name]
                if kind == "secrets":
                    obj = {"kind": "Secret", "metadata": {"name": name, "namespace": ns},
                           "data": {k: base64.b64encode(v.encode()).decode() for k, v in obj.items()}}
                return self._send(200, obj)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = self._ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
