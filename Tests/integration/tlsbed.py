"""Certificates and a TLS terminator for the TLS tests against the real RGW (stdlib + cryptography).

    bed = make_tlsbed(tmp_dir)          # files in tmp_dir, reused if already there
    bed.ca_cert, bed.ca_pem()           # test CA (self-signed); trusts the two server certificates
    bed.server_cert, bed.server_key     # leaf for DNS:localhost only, valid for 10 years
    bed.expired_cert, bed.expired_key   # leaf for DNS:localhost by the test CA, expired yesterday
    bed.other_ca_cert                   # an unrelated CA ("wrong CA": trusts nothing here)

`https://localhost:PORT` with the test CA verifies; `https://127.0.0.1:PORT` is a hostname
mismatch (no IP SAN on purpose).

RGW's beast frontend serves one certificate, so the cases needing another one (the expired
certificate) put a TLSTerminator in front of RGW's plain HTTP port:

    front = TLSTerminator("127.0.0.1", rgw_http_port, bed.expired_cert, bed.expired_key).start()
    front.endpoint        # "localhost:PORT"
    front.stop()

It accepts TLS on 127.0.0.1, completes the handshake with the chosen certificate and copies the
decrypted bytes to a fresh TCP connection to the upstream and back, unchanged (HTTP is not
parsed). SigV4 signs the Host header, which RGW does not compare to its own address.
"""

import datetime
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TLSBed", "make_tlsbed", "make_ca", "issue_server_cert", "cert_pem", "key_pem", "TLSTerminator"]

CHUNK = 64 * 1024


# --------------------------------------------------------------------------- certificates

def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def make_ca(common_name, days=3650):
    """(key, certificate) of a self-signed CA."""
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue_server_cert(ca_key, ca_cert, dns_names=("localhost",), not_before=None, not_after=None):
    """(key, certificate) of a TLS server certificate signed by the CA, with only `dns_names` as SANs."""
    key = _key()
    now = _now()
    not_before = not_before or now - datetime.timedelta(days=1)
    not_after = not_after or now + datetime.timedelta(days=3650)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


@dataclass(frozen=True)
class TLSBed:
    """Paths of the generated PEM files (see the module docstring)."""
    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    expired_cert: Path
    expired_key: Path
    other_ca_cert: Path
    other_ca_key: Path

    def ca_pem(self):
        return self.ca_cert.read_text()

    def other_ca_pem(self):
        return self.other_ca_cert.read_text()

    def server_cert_pem(self):
        return self.server_cert.read_text()

    def expired_cert_pem(self):
        return self.expired_cert.read_text()


def make_tlsbed(directory):
    """Generates the test CA, the localhost server certificate, the expired one and the unrelated
    CA into `directory` (created if missing); when all files are already there they are kept, so a
    server still running with them stays trusted."""
    d = Path(directory)
    bed = TLSBed(d, d / "ca.pem", d / "ca.key", d / "server.pem", d / "server.key",
                 d / "expired.pem", d / "expired.key", d / "other-ca.pem", d / "other-ca.key")
    files = [bed.ca_cert, bed.ca_key, bed.server_cert, bed.server_key, bed.expired_cert, bed.expired_key,
             bed.other_ca_cert, bed.other_ca_key]
    if all(f.is_file() and f.stat().st_size > 0 for f in files):
        return bed
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca = make_ca("argo-plugin test CA")
    server_key, server = issue_server_cert(ca_key, ca)
    now = _now()
    expired_key, expired = issue_server_cert(ca_key, ca, not_before=now - datetime.timedelta(days=30),
                                             not_after=now - datetime.timedelta(days=1))
    other_key, other = make_ca("argo-plugin unrelated CA")
    for path, text in ((bed.ca_cert, cert_pem(ca)), (bed.ca_key, key_pem(ca_key)),
                       (bed.server_cert, cert_pem(server)), (bed.server_key, key_pem(server_key)),
                       (bed.expired_cert, cert_pem(expired)), (bed.expired_key, key_pem(expired_key)),
                       (bed.other_ca_cert, cert_pem(other)), (bed.other_ca_key, key_pem(other_key))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600 if path.suffix == ".key" else 0o644)
        tmp.replace(path)
    return bed


# --------------------------------------------------------------------------- TLS terminator

class TLSTerminator:
    """TLS on 127.0.0.1:port with a chosen certificate, bytes copied both ways to a plain TCP upstream."""

    def __init__(self, upstream_host, upstream_port, cert_file, key_file, host="127.0.0.1"):
        self.upstream = (upstream_host, int(upstream_port))
        self.host = host
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert_file), str(key_file))
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.port = None
        self.handshake_errors = []      # str(exception) of failed handshakes (e.g. the client refused the certificate)
        self._listener = None
        self._threads = []
        self._socks = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    @property
    def endpoint(self):
        """host:port for a client that verifies the certificate's name (localhost)."""
        return f"localhost:{self.port}"

    @property
    def url(self):
        return f"https://localhost:{self.port}"

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, 0))
        s.listen(128)
        self._listener = s
        self.port = s.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def stop(self):
        self._stopped.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            self._close(s)
        for t in list(self._threads):
            t.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- internals

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _track(self, s):
        with self._lock:
            self._socks.add(s)

    def _close(self, s):
        with self._lock:
            self._socks.discard(s)
        try:
            s.close()
        except OSError:
            pass

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._track(conn)
            self._spawn(self._serve, conn)

    def _serve(self, raw):
        up = tls = None
        try:
            raw.settimeout(30)
            try:
                tls = self.ctx.wrap_socket(raw, server_side=True)     # handshake here, not in the accept loop
            except (OSError, ssl.SSLError) as e:
                self.handshake_errors.append(str(e))
                return
            self._track(tls)
            up = socket.create_connection(self.upstream, timeout=10)
            self._track(up)
            self._relay(tls, up)
        except (OSError, ssl.SSLError):
            pass
        finally:
            for s in (up, tls, raw):
                if s is not None:
                    self._close(s)

    def _relay(self, tls, up):
        """One thread per connection, so the SSL object is never used by two threads at once."""
        tls.settimeout(None)
        up.settimeout(None)
        client_open = True
        while not self._stopped.is_set():
            readable = [tls] if client_open and tls.pending() else []
            if not readable:
                readable, _, _ = select.select(([tls] if client_open else []) + [up], [], [], 0.5)
            if tls in readable:
                data = tls.recv(CHUNK)
                if data:
                    up.sendall(data)
                else:                           # client finished sending: half-close upstream, keep answering
                    client_open = False
                    up.shutdown(socket.SHUT_WR)
            if up in readable:
                data = up.recv(CHUNK)
                if not data:                    # upstream closed: close the client (close_notify) too
                    return
                tls.sendall(data)
