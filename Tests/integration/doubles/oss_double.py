"""OSSDouble: an in-memory Alibaba Cloud OSS test double speaking OSS's REST dialect over HTTP/1.1.

Every request's V4 signature (`OSS4-HMAC-SHA256`, header or presigned query) is checked by
re-signing it with the official SDK's signer (alibabacloud_oss_v2.signer.SignerV4) from what
was received: method, raw path (bucket and key decoded from it), the raw query string exactly
as received, all headers, the x-oss-date as signing time, the credential scope's region and
product, the AK's known secret. Objects live in memory; ETags are quoted uppercase hex MD5 (or
`"<MD5 of part MD5s>-N"` for multipart objects); `x-oss-hash-crc64ecma` is the decimal
CRC-64/XZ (ECMA-182 reflected, init/xorout all ones) of the stored bytes.

    d = OSSDouble(bucket="argo-artifacts").start()
    d.endpoint          # "127.0.0.1:PORT"; path-style URLs http://127.0.0.1:PORT/bucket/key
    d.add_credentials("AK2", "SK2", token="sts-token")
    d.fail_next("UploadPart", 503, "ServiceBusy", times=2)
    d.counts["UploadPart"], d.verified
    d.stop()

Virtual-host style works too: Host `bucket.127.0.0.1:PORT` or `bucket.localhost:PORT`.
"""
import base64
import collections
import datetime
import email.utils
import hashlib
import hmac
import http.server
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

import crcmod
from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
from alibabacloud_oss_v2.signer import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext

# CRC-64/XZ ("crc64ecma" in OSS): poly 0x42F0E1EBA9EA3693 reflected, init and xorout all ones.
# crcmod's initCrc is the register's initial value XOR xorOut, hence 0.
_crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)
assert _crc64(b"123456789") == 0x995DC9BBDF1939FA


def crc64(data, crc=0):
    """CRC-64/XZ of `data` (continuing from a previous `crc` value if given)."""
    return _crc64(bytes(data), crc)


def md5_etag(data):
    return '"%s"' % hashlib.md5(data).hexdigest().upper()


def rfc1123(ts):
    return email.utils.formatdate(ts, usegmt=True)


def iso8601(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts)) if ts is not None else ""


ARCHIVE_CLASSES = ("Archive", "ColdArchive", "DeepColdArchive")
STORAGE_CLASSES = ("Standard", "IA") + ARCHIVE_CLASSES
MAX_PART_NUMBER = 10000


class OSSError(Exception):
    def __init__(self, status, code, message, extra=None, headers=None):
        super().__init__("%s %s: %s" % (status, code, message))
        self.status, self.code, self.message = status, code, message
        self.extra = extra or {}
        self.headers = headers or {}


class _Object:
    def __init__(self, data, storage_class="Standard", content_type="application/octet-stream",
                 meta=None, etag=None, object_type="Normal"):
        self.data = bytes(data)
        self.etag = etag or md5_etag(self.data)
        self.crc64 = crc64(self.data)
        self.content_md5 = base64.b64encode(hashlib.md5(self.data).digest()).decode()
        self.last_modified = time.time()
        self.storage_class = storage_class
        self.content_type = content_type
        self.meta = dict(meta or {})
        self.object_type = object_type
        self.sse = {}                    # x-oss-server-side-encryption[-key-id] as stored
        self.restore_started = None      # time the current restore was requested
        self.restore_days = 1

    def restore_state(self, restore_seconds):
        """None (not restored), 'ongoing', or 'done' (with expiry)."""
        if self.restore_started is None:
            return None
        done_at = self.restore_started + restore_seconds
        now = time.time()
        if now < done_at:
            return "ongoing"
        if now > done_at + self.restore_days * 86400:
            return None
        return "done"

    def restore_expiry(self, restore_seconds):
        return self.restore_started + restore_seconds + self.restore_days * 86400


class _Upload:
    def __init__(self, key, upload_id, storage_class, content_type, meta):
        self.key, self.upload_id = key, upload_id
        self.storage_class, self.content_type, self.meta = storage_class, content_type, meta
        self.sse = {}
        self.initiated = time.time()
        self.parts = {}                  # number -> (data, etag, crc64, last_modified)


class _Bucket:
    def __init__(self, name, storage_class="Standard"):
        self.name = name
        self.created = time.time()
        self.storage_class = storage_class
        self.objects = {}
        self.uploads = {}
        self.lifecycle = None


def _xml(root, children):
    """Render <root>children</root>; children: list of (tag, text-or-list-or-None)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']

    def emit(tag, value):
        if value is None:
            return
        if isinstance(value, list):
            out.append("<%s>" % tag)
            for t, v in value:
                emit(t, v)
            out.append("</%s>" % tag)
        else:
            out.append("<%s>%s</%s>" % (tag, escape(str(value)), tag))

    emit(root, children)
    return "".join(out).encode()


def _b(v):
    return "true" if v else "false"


class OSSDouble:
    def __init__(self, bucket="argo-artifacts", region="cn-hangzhou",
                 access_key="LTAI5tOSSDoubleAccessKey", secret_key="oss-double-secret/+0123456789abcdef",
                 token=None, restore_seconds=1.0, max_skew_seconds=900, min_part_size=100 * 1024,
                 host="127.0.0.1", port=0, create_bucket=True):
        self.bucket = bucket
        self.region = region
        self.access_key, self.secret_key, self.token = access_key, secret_key, token
        self.restore_seconds = restore_seconds
        self.max_skew_seconds = max_skew_seconds
        self.min_part_size = min_part_size
        self.host, self._port = host, port
        self.lock = threading.RLock()
        self.buckets = {}
        if create_bucket:
            self.buckets[bucket] = _Bucket(bucket)
        self._creds = {}                 # ak -> {"secret", "token", "token_expired"}
        self.add_credentials(access_key, secret_key, token)
        self.counts = collections.Counter()
        self.verified = 0                # requests whose signature verified
        self.signature_failures = 0
        self.last_signature_error = None  # {"canonical_request", "string_to_sign", ...}
        self.requests = []               # [{"method","path","query","op","status","headers"}]
        self.corrupt_next_part = False   # flip a byte of the next UploadPart as stored
        self.corrupt_next_put = False    # same for the next PutObject
        self.ignore_encryption = False   # take SSE headers, store plaintext, report nothing
        self.sse_requests = []           # (op, x-oss-server-side-encryption, key id) of each write
        self._faults = []
        self._server = None
        self._thread = None
        self._conns = set()

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        double = self

        class Handler(_Handler):
            pass
        Handler.double = double
        self._server = _Server((self.host, self._port), Handler)
        self._server.double = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="oss-double")
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1] if self._server else self._port

    @property
    def endpoint(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def url(self):
        return "http://" + self.endpoint

    # ---------------------------------------------------------------- test controls
    def add_credentials(self, ak, sk, token=None):
        """Accept `ak` signed with `sk`; with `token`, requests must carry x-oss-security-token=token."""
        with self.lock:
            self._creds[ak] = {"secret": sk, "token": token, "token_expired": False}

    def remove_credentials(self, ak):
        with self.lock:
            self._creds.pop(ak, None)

    def expire_token(self, ak):
        """Requests from `ak` now get 403 SecurityTokenExpired."""
        with self.lock:
            self._creds[ak]["token_expired"] = True

    def fail_next(self, op, status=503, code="ServiceBusy", times=1, message=None):
        """The next `times` requests of operation `op` ("*" = any) get `status`/`code` after
        their signature verified. status 0 drops the connection without a response."""
        with self.lock:
            self._faults.append([op, status, code, message or "Injected by OSSDouble.fail_next", times])

    def objects(self, bucket=None):
        return self.buckets[bucket or self.bucket].objects

    def put(self, key, data, storage_class="Standard", bucket=None, content_type="application/octet-stream"):
        with self.lock:
            self.buckets[bucket or self.bucket].objects[key] = _Object(data, storage_class, content_type)

    def get(self, key, bucket=None):
        with self.lock:
            o = self.buckets[bucket or self.bucket].objects.get(key)
            return None if o is None else o.data

    def archive(self, key, storage_class="Archive", bucket=None):
        with self.lock:
            o = self.buckets[bucket or self.bucket].objects[key]
            o.storage_class = storage_class
            o.restore_started = None

    def corrupt_object(self, key, offset=None, bucket=None):
        """Flip one stored byte (default: the middle one); the object's ETag, Content-MD5 and
        x-oss-hash-crc64ecma headers keep describing the original bytes."""
        with self.lock:
            o = self.buckets[bucket or self.bucket].objects[key]
            if not o.data:
                raise ValueError("cannot corrupt an empty object")
            i = len(o.data) // 2 if offset is None else offset
            b = bytearray(o.data)
            b[i] ^= 0xFF
            o.data = bytes(b)

    def uploads(self, bucket=None):
        return self.buckets[bucket or self.bucket].uploads

    def lifecycle(self, bucket=None):
        return self.buckets[bucket or self.bucket].lifecycle

    def reset_counters(self):
        with self.lock:
            self.counts.clear()
            self.verified = 0
            self.signature_failures = 0
            self.requests.clear()

    # ---------------------------------------------------------------- request handling
    def _take_fault(self, op):
        with self.lock:
            for f in self._faults:
                if f[0] in (op, "*") and f[4] > 0:
                    f[4] -= 1
                    if f[4] == 0:
                        self._faults.remove(f)
                    return f
        return None

    def _resolve_target(self, host, raw_path):
        """(bucket, key) from the Host header (virtual-host style) or the path (path style)."""
        hostname = host.rsplit(":", 1)[0] if host and not host.endswith("]") else (host or "")
        path = unquote(raw_path)
        bases = {self.host, "127.0.0.1", "localhost"}
        for base in bases:
            if hostname.endswith("." + base):
                bucket = hostname[: -len(base) - 1]
                key = path[1:] if len(path) > 1 else None
                return bucket, key
        parts = path[1:].split("/", 1) if path.startswith("/") else [path]
        bucket = parts[0] or None
        key = parts[1] if len(parts) > 1 and parts[1] != "" else None
        return bucket, key

    @staticmethod
    def _operation(method, bucket, key, q, headers):
        if bucket is None:
            return "ListBuckets" if method == "GET" else "Unknown"
        if key is None:
            if method == "PUT":
                return "PutBucketLifecycle" if "lifecycle" in q else "PutBucket"
            if method == "GET":
                for sub, op in (("lifecycle", "GetBucketLifecycle"), ("bucketInfo", "GetBucketInfo"),
                                ("location", "GetBucketLocation"), ("uploads", "ListMultipartUploads")):
                    if sub in q:
                        return op
                return "ListObjectsV2" if q.get("list-type") == "2" else "ListObjects"
            if method == "DELETE":
                return "DeleteBucketLifecycle" if "lifecycle" in q else "DeleteBucket"
            if method == "HEAD":
                return "HeadBucket"
            if method == "POST" and "delete" in q:
                return "DeleteMultipleObjects"
            return "Unknown"
        if method == "PUT":
            if "uploadId" in q:
                return "UploadPartCopy" if "x-oss-copy-source" in headers else "UploadPart"
            return "CopyObject" if "x-oss-copy-source" in headers else "PutObject"
        if method == "GET":
            return "ListParts" if "uploadId" in q else "GetObject"
        if method == "HEAD":
            return "GetObjectMeta" if "objectMeta" in q else "HeadObject"
        if method == "DELETE":
            return "AbortMultipartUpload" if "uploadId" in q else "DeleteObject"
        if method == "POST":
            if "uploads" in q:
                return "InitiateMultipartUpload"
            if "uploadId" in q:
                return "CompleteMultipartUpload"
            if "restore" in q:
                return "RestoreObject"
        return "Unknown"

    # ---- signature verification -------------------------------------------------
    def _credential(self, ak, token):
        with self.lock:
            c = self._creds.get(ak)
        if c is None:
            raise OSSError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.",
                           {"OSSAccessKeyId": ak})
        if c["token"] is not None:
            if not token:
                raise OSSError(403, "InvalidAccessKeyId", "The security token is required for this access key id.",
                               {"OSSAccessKeyId": ak})
            if token != c["token"]:
                raise OSSError(403, "InvalidAccessKeyId", "The security token you provided is invalid.",
                               {"OSSAccessKeyId": ak})
            if c["token_expired"]:
                raise OSSError(403, "SecurityTokenExpired", "The security token you provided has expired.")
        elif token:
            raise OSSError(403, "InvalidAccessKeyId", "The security token you provided is invalid.",
                           {"OSSAccessKeyId": ak})
        return c["secret"]

    def _check_scope(self, region, product, terminator):
        if terminator != "aliyun_v4_request" or product != "oss":
            raise OSSError(400, "InvalidArgument", "Invalid credential scope in the request: product must be oss "
                           "and the scope must end with aliyun_v4_request.")
        if region != self.region:
            raise OSSError(400, "InvalidArgument", "Invalid signing region in Authorization header: %r, expected %r."
                           % (region, self.region))

    def _check_time(self, stamp):
        try:
            t = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except (TypeError, ValueError):
            raise OSSError(400, "InvalidArgument", "The x-oss-date %r is not in ISO8601 basic format "
                           "(YYYYMMDDTHHMMSSZ)." % (stamp,))
        if self.max_skew_seconds is not None and abs(t.timestamp() - time.time()) > self.max_skew_seconds:
            raise OSSError(403, "RequestTimeTooSkewed", "The difference between the request time and the current "
                           "time is too large.", {"RequestTime": stamp,
                                                  "ServerTime": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())})
        return t

    def _sig_mismatch(self, signer, ctx, additional, provided, expected, extra=None):
        canonical = signer._calc_canonical_request(signing_ctx=ctx, additional_headers=additional)
        sts = ctx.string_to_sign
        with self.lock:
            self.signature_failures += 1
            self.last_signature_error = {"canonical_request": canonical, "string_to_sign": sts,
                                         "provided": provided, "expected": expected}
        info = {"CanonicalRequest": canonical, "StringToSign": sts, "SignatureProvided": provided}
        info.update(extra or {})
        raise OSSError(403, "SignatureDoesNotMatch",
                       "The request signature we calculated does not match the signature you provided. "
                       "Check your key and signing method.", info)

    def _verify(self, method, host, raw_path, raw_query, headers, bucket, key):
        auth = headers.get("authorization")
        pairs = [p.partition("=") for p in raw_query.split("&") if p] if raw_query else []
        qraw = {k: v for k, _, v in pairs}
        if auth is None and "x-oss-signature-version" in qraw:
            return self._verify_query(method, host, raw_path, raw_query, headers, bucket, key, qraw)
        if auth is None:
            raise OSSError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
        if not auth.startswith("OSS4-HMAC-SHA256 "):
            raise OSSError(403, "AccessDenied", "OSSDouble only accepts OSS4-HMAC-SHA256 signatures, got %r."
                           % auth.split(" ", 1)[0])
        fields = {}
        for part in auth[len("OSS4-HMAC-SHA256 "):].split(","):
            k, sep, v = part.strip().partition("=")
            if not sep:
                raise OSSError(400, "InvalidArgument", "Authorization header is invalid: %r." % auth)
            fields[k] = v
        cred = fields.get("Credential", "").split("/")
        if len(cred) != 5 or "Signature" not in fields:
            raise OSSError(400, "InvalidArgument", "Authorization header is invalid: %r." % auth)
        ak, day, region, product, terminator = cred
        self._check_scope(region, product, terminator)
        stamp = headers.get("x-oss-date")
        if stamp is None:
            raise OSSError(403, "AccessDenied", "Missing x-oss-date header (required by OSS4-HMAC-SHA256).")
        t = self._check_time(stamp)
        if headers.get("x-oss-content-sha256") != "UNSIGNED-PAYLOAD":
            raise OSSError(400, "InvalidArgument", "x-oss-content-sha256 must be UNSIGNED-PAYLOAD, got %r."
                           % headers.get("x-oss-content-sha256"))
        token = headers.get("x-oss-security-token")
        secret = self._credential(ak, token)

        url = "http://%s%s" % (host or self.endpoint, raw_path) + ("?" + raw_query if raw_query else "")
        request = HttpRequest(method, url)
        for k, v in headers.items():
            if k != "authorization":
                request.headers[k] = v
        extra = fields.get("AdditionalHeaders")
        ctx = SigningContext(product=product, region=region, bucket=bucket, key=key, request=request,
                             credentials=StaticCredentialsProvider(ak, secret, token).get_credentials(),
                             signing_time=t, additional_headers=set(extra.split(";")) if extra else None)
        signer = SignerV4()
        signer.sign(ctx)
        expected = request.headers["Authorization"]
        want = {}
        for part in expected[len("OSS4-HMAC-SHA256 "):].split(","):
            k, _, v = part.partition("=")
            want[k] = v
        additional = signer._common_additional_headers(request, ctx.additional_headers)
        if (want.get("Credential") != fields.get("Credential")
                or want.get("AdditionalHeaders", "") != fields.get("AdditionalHeaders", "")
                or not hmac.compare_digest(want["Signature"], fields["Signature"])):
            self._sig_mismatch(signer, ctx, additional, auth, expected)
        with self.lock:
            self.verified += 1

    def _verify_query(self, method, host, raw_path, raw_query, headers, bucket, key, qraw):
        if qraw.get("x-oss-signature-version") != "OSS4-HMAC-SHA256":
            raise OSSError(400, "InvalidArgument", "Unsupported x-oss-signature-version.")
        for need in ("x-oss-credential", "x-oss-date", "x-oss-expires", "x-oss-signature"):
            if not qraw.get(need):
                raise OSSError(400, "InvalidArgument", "Missing %s in the presigned URL." % need)
        cred = unquote(qraw["x-oss-credential"]).split("/")
        if len(cred) != 5:
            raise OSSError(400, "InvalidArgument", "x-oss-credential is invalid.")
        ak, day, region, product, terminator = cred
        self._check_scope(region, product, terminator)
        stamp = qraw["x-oss-date"]
        try:
            t = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
            expires = int(qraw["x-oss-expires"])
        except ValueError:
            raise OSSError(400, "InvalidArgument", "x-oss-date or x-oss-expires is invalid.")
        if time.time() > t.timestamp() + expires:
            raise OSSError(403, "AccessDenied", "Request has expired.",
                           {"Expires": iso8601(t.timestamp() + expires), "ServerTime": iso8601(time.time())})
        token = unquote(qraw["x-oss-security-token"]) if "x-oss-security-token" in qraw else None
        secret = self._credential(ak, token)
        kept = "&".join(p for p in raw_query.split("&") if p and p.partition("=")[0] != "x-oss-signature")
        url = "http://%s%s" % (host or self.endpoint, raw_path) + ("?" + kept if kept else "")
        request = HttpRequest(method, url)
        for k, v in headers.items():
            request.headers[k] = v
        extra = unquote(qraw.get("x-oss-additional-headers", ""))
        ctx = SigningContext(product=product, region=region, bucket=bucket, key=key, request=request,
                             credentials=StaticCredentialsProvider(ak, secret, token).get_credentials(),
                             signing_time=t, additional_headers=set(extra.split(";")) if extra else None)
        # The SDK's presigner would rewrite the query; here the query is what was received, so the
        # SDK's own canonicalisation and key derivation are applied to it directly.
        signer = SignerV4()
        additional = signer._common_additional_headers(request, ctx.additional_headers)
        canonical = signer._calc_canonical_request(signing_ctx=ctx, additional_headers=additional)
        scope = signer._build_scope(date=day, region=region, product=product)
        ctx.string_to_sign = signer._calc_string_to_sign(stamp, scope, canonical)
        signature = signer._calc_signature(access_key_secrect=secret, date=stamp[:8], region=region,
                                           product=product, string_to_sign=ctx.string_to_sign)
        provided = unquote(qraw["x-oss-signature"])
        if day != stamp[:8] or ";".join(additional) != extra or not hmac.compare_digest(signature, provided):
            self._sig_mismatch(signer, ctx, additional, provided, signature)
        with self.lock:
            self.verified += 1

    # ---- dispatch -----------------------------------------------------------------
    def handle(self, method, target, headers, body, info=None):
        """-> (status, headers dict, body bytes) or None to drop the connection; raises OSSError.
        `info` (a dict) receives "op", the operation name."""
        parts = urlsplit(target)
        raw_path, raw_query = parts.path or "/", parts.query
        q = {}
        for p in raw_query.split("&") if raw_query else []:
            if p:
                k, _, v = p.partition("=")
                q.setdefault(unquote(k), unquote(v))
        host = headers.get("host", "")
        bucket, key = self._resolve_target(host, raw_path)
        op = self._operation(method, bucket, key, q, headers)
        if info is not None:
            info["op"] = op
        with self.lock:
            self.counts[op] += 1
        self._verify(method, host, raw_path, raw_query, headers, bucket, key)
        fault = self._take_fault(op)
        if fault is not None:
            if fault[1] == 0:
                return None
            raise OSSError(fault[1], fault[2], fault[3])
        fn = getattr(self, "_op_" + op, None)
        if fn is None:
            raise OSSError(501, "NotImplemented", "OSSDouble does not implement %s %s." % (method, target))
        ctx = _Ctx(method, bucket, key, q, headers, body, host)
        ctx.op = op
        if op not in ("ListBuckets", "PutBucket"):
            with self.lock:
                ctx.b = self.buckets.get(bucket)
            if ctx.b is None:
                raise OSSError(404, "NoSuchBucket", "The specified bucket does not exist.", {"BucketName": bucket})
        with self.lock:
            return fn(ctx)

    # ---- helpers ------------------------------------------------------------------
    @staticmethod
    def _check_md5(ctx, required=False):
        given = ctx.headers.get("content-md5")
        if given is None:
            if required:
                raise OSSError(400, "MissingArgument", "Missing Some Required Arguments: Content-MD5.")
            return
        try:
            ok = base64.b64decode(given, validate=True) == hashlib.md5(ctx.body).digest()
        except ValueError:
            ok = False
        if not ok:
            raise OSSError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.",
                           {"ContentMD5": given})

    @staticmethod
    def _storage_class(ctx, default="Standard"):
        sc = ctx.headers.get("x-oss-storage-class", default)
        if sc not in STORAGE_CLASSES:
            raise OSSError(400, "InvalidArgument", "Invalid storage class: %r." % sc)
        return sc

    def _sse(self, ctx):
        """OSS server-side encryption headers of a write, checked as OSS does: AES256, SM4 or KMS;
        a key id only with KMS. Returned as the headers the object reports back. With
        `ignore_encryption` set the double stores plaintext and says nothing, as a store that
        ignores the request would."""
        alg = ctx.headers.get("x-oss-server-side-encryption")
        key_id = ctx.headers.get("x-oss-server-side-encryption-key-id")
        self.sse_requests.append((ctx.op, alg, key_id))
        if alg is None:
            if key_id is not None:
                raise OSSError(400, "InvalidArgument", "x-oss-server-side-encryption-key-id needs "
                               "x-oss-server-side-encryption: KMS.")
            return {}
        if alg not in ("AES256", "SM4", "KMS"):
            raise OSSError(400, "InvalidEncryptionAlgorithmError", "The Encryption request you specified is not "
                           "valid. Supported value: AES256/KMS/SM4.")
        if key_id is not None and alg != "KMS":
            raise OSSError(400, "InvalidArgument", "x-oss-server-side-encryption-key-id is only valid with KMS.")
        if self.ignore_encryption:
            return {}
        out = {"x-oss-server-side-encryption": alg}
        if alg == "KMS":
            out["x-oss-server-side-encryption-key-id"] = key_id or "default-kms-key-of-the-double"
        return out

    @staticmethod
    def _meta(ctx):
        return {k: v for k, v in ctx.headers.items() if k.startswith("x-oss-meta-")}

    @staticmethod
    def _enc(ctx, s):
        return quote(s, safe="") if ctx.q.get("encoding-type") == "url" and s is not None else s

    def _object(self, ctx):
        o = ctx.b.objects.get(ctx.key)
        if o is None:
            raise OSSError(404, "NoSuchKey", "The specified key does not exist.", {"Key": ctx.key})
        return o

    def _upload(self, ctx):
        u = ctx.b.uploads.get(ctx.q.get("uploadId", ""))
        if u is None or u.key != ctx.key:
            raise OSSError(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, "
                           "or the upload may have been aborted or completed.", {"UploadId": ctx.q.get("uploadId")})
        return u

    def _forbid_overwrite(self, ctx):
        if ctx.headers.get("x-oss-forbid-overwrite", "").lower() == "true" and ctx.key in ctx.b.objects:
            raise OSSError(409, "FileAlreadyExists", "The object you specified already exists and can not be "
                           "overwritten.")

    def _object_headers(self, o):
        h = {"ETag": o.etag, "Last-Modified": rfc1123(o.last_modified), "Content-Type": o.content_type,
             "x-oss-hash-crc64ecma": str(o.crc64), "x-oss-object-type": o.object_type,
             "x-oss-storage-class": o.storage_class, "Accept-Ranges": "bytes"}
        h.update(o.meta)
        h.update(o.sse)
        if o.storage_class in ARCHIVE_CLASSES:
            st = o.restore_state(self.restore_seconds)
            if st == "ongoing":
                h["x-oss-restore"] = 'ongoing-request="true"'
            elif st == "done":
                h["x-oss-restore"] = 'ongoing-request="false", expiry-date="%s"' % rfc1123(
                    o.restore_expiry(self.restore_seconds))
        return h

    def _preconditions(self, ctx, o):
        im = ctx.headers.get("if-match")
        if im is not None and im.strip() != "*" and im.strip().strip('"').upper() != o.etag.strip('"'):
            raise OSSError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not "
                           "hold.", {"Condition": "If-Match"})
        ius = ctx.headers.get("if-unmodified-since")
        if ius is not None:
            try:
                if int(o.last_modified) > email.utils.parsedate_to_datetime(ius).timestamp():
                    raise OSSError(412, "PreconditionFailed", "At least one of the pre-conditions you specified "
                                   "did not hold.", {"Condition": "If-Unmodified-Since"})
            except (TypeError, ValueError):
                pass
        inm = ctx.headers.get("if-none-match")
        if inm is not None and (inm.strip() == "*" or inm.strip().strip('"').upper() == o.etag.strip('"')):
            return 304
        ims = ctx.headers.get("if-modified-since")
        if ims is not None:
            try:
                if int(o.last_modified) <= email.utils.parsedate_to_datetime(ims).timestamp():
                    return 304
            except (TypeError, ValueError):
                pass
        return None

    # ---- bucket operations ----------------------------------------------------------
    def _op_ListBuckets(self, ctx):
        buckets = [("Bucket", [("Name", b.name), ("CreationDate", iso8601(b.created)),
                               ("Location", "oss-" + self.region), ("Region", self.region),
                               ("StorageClass", b.storage_class)]) for b in sorted(self.buckets.values(),
                                                                                   key=lambda b: b.name)]
        return 200, {}, _xml("ListAllMyBucketsResult", [("Owner", [("ID", "oss-double"), ("DisplayName", "oss-double")]),
                                                        ("Buckets", buckets)])

    def _op_PutBucket(self, ctx):
        if ctx.bucket in self.buckets:
            raise OSSError(409, "BucketAlreadyExists", "The requested bucket name is not available.",
                           {"BucketName": ctx.bucket})
        sc = "Standard"
        if ctx.body:
            try:
                el = ET.fromstring(ctx.body).find("StorageClass")
                sc = el.text if el is not None else sc
            except ET.ParseError:
                raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed.")
        self.buckets[ctx.bucket] = _Bucket(ctx.bucket, sc)
        return 200, {"Location": "/" + ctx.bucket}, b""

    def _op_DeleteBucket(self, ctx):
        if ctx.b.objects or ctx.b.uploads:
            raise OSSError(409, "BucketNotEmpty", "The bucket has objects. Please delete them first.",
                           {"BucketName": ctx.bucket})
        del self.buckets[ctx.bucket]
        return 204, {}, b""

    def _op_HeadBucket(self, ctx):
        return 200, {"x-oss-bucket-region": self.region}, b""

    def _op_GetBucketLocation(self, ctx):
        return 200, {}, _xml("LocationConstraint", "oss-" + self.region)

    def _op_GetBucketInfo(self, ctx):
        b = ctx.b
        return 200, {}, _xml("BucketInfo", [("Bucket", [
            ("AccessMonitor", "Disabled"), ("CreationDate", iso8601(b.created)),
            ("ExtranetEndpoint", self.endpoint), ("IntranetEndpoint", self.endpoint),
            ("Location", "oss-" + self.region), ("StorageClass", b.storage_class), ("Region", self.region),
            ("DataRedundancyType", "LRS"), ("Name", b.name), ("ResourceGroupId", "rg-default"),
            ("Owner", [("DisplayName", "oss-double"), ("ID", "oss-double")]),
            ("AccessControlList", [("Grant", "private")]),
            ("ServerSideEncryptionRule", [("SSEAlgorithm", "None")]),
            ("BucketPolicy", [("LogBucket", ""), ("LogPrefix", "")])])])

    def _op_PutBucketLifecycle(self, ctx):
        self._check_md5(ctx)
        try:
            root = ET.fromstring(ctx.body)
        except ET.ParseError:
            raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed.")
        if root.tag != "LifecycleConfiguration":
            raise OSSError(400, "MalformedXML", "The root element must be LifecycleConfiguration.")
        ctx.b.lifecycle = bytes(ctx.body)
        return 200, {}, b""

    def _op_GetBucketLifecycle(self, ctx):
        if ctx.b.lifecycle is None:
            raise OSSError(404, "NoSuchLifecycle", "No Row found in Lifecycle Table.", {"BucketName": ctx.bucket})
        return 200, {"Content-Type": "application/xml"}, ctx.b.lifecycle

    def _op_DeleteBucketLifecycle(self, ctx):
        ctx.b.lifecycle = None
        return 204, {}, b""

    def _list_entries(self, ctx, prefix, delimiter, after):
        """Sorted (name, object-or-None) after `after`: objects, or common prefixes (object None)."""
        out, seen = [], set()
        for k in sorted(ctx.b.objects):
            if not k.startswith(prefix) or (after is not None and k <= after):
                continue
            if delimiter:
                i = k.find(delimiter, len(prefix))
                if i >= 0:
                    cp = k[: i + len(delimiter)]
                    if cp not in seen and (after is None or cp > after):
                        seen.add(cp)
                        out.append((cp, None))
                    continue
            out.append((k, ctx.b.objects[k]))
        return out

    @staticmethod
    def _max(ctx, name, default=100, limit=1000):
        try:
            n = int(ctx.q.get(name, default))
        except ValueError:
            raise OSSError(400, "InvalidArgument", "%s is invalid." % name)
        if n < 0 or n > limit:
            raise OSSError(400, "InvalidArgument", "%s must be between 0 and %d." % (name, limit))
        return n

    def _contents(self, ctx, k, o):
        restore = self._object_headers(o).get("x-oss-restore")
        return ("Contents", [("Key", self._enc(ctx, k)), ("LastModified", iso8601(o.last_modified)),
                             ("ETag", o.etag), ("Type", o.object_type), ("Size", len(o.data)),
                             ("StorageClass", o.storage_class)] + ([("RestoreInfo", restore)] if restore else []))

    def _op_ListObjectsV2(self, ctx):
        prefix, delimiter = ctx.q.get("prefix", ""), ctx.q.get("delimiter", "")
        max_keys = self._max(ctx, "max-keys")
        token = ctx.q.get("continuation-token")
        after = ctx.q.get("start-after")
        if token is not None:
            try:
                after = base64.b64decode(token, validate=True).decode()
            except ValueError:
                raise OSSError(400, "InvalidArgument", "The continuation token provided is incorrect.",
                               {"ContinuationToken": token})
        entries = self._list_entries(ctx, prefix, delimiter, after)
        page, truncated = entries[:max_keys], len(entries) > max_keys
        children = [("Name", ctx.bucket), ("Prefix", self._enc(ctx, prefix)),
                    ("StartAfter", self._enc(ctx, ctx.q.get("start-after"))),
                    ("ContinuationToken", self._enc(ctx, token)), ("MaxKeys", max_keys),
                    ("Delimiter", self._enc(ctx, delimiter)), ("IsTruncated", _b(truncated))]
        if truncated and page:
            children.append(("NextContinuationToken",
                             self._enc(ctx, base64.b64encode(page[-1][0].encode()).decode())))
        children.append(("KeyCount", len(page)))
        if ctx.q.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        children += [self._contents(ctx, k, o) for k, o in page if o is not None]
        children += [("CommonPrefixes", [("Prefix", self._enc(ctx, k))]) for k, o in page if o is None]
        return 200, {}, _xml("ListBucketResult", children)

    def _op_ListObjects(self, ctx):
        prefix, delimiter = ctx.q.get("prefix", ""), ctx.q.get("delimiter", "")
        max_keys = self._max(ctx, "max-keys")
        marker = ctx.q.get("marker", "")
        entries = self._list_entries(ctx, prefix, delimiter, marker or None)
        page, truncated = entries[:max_keys], len(entries) > max_keys
        children = [("Name", ctx.bucket), ("Prefix", self._enc(ctx, prefix)), ("Marker", self._enc(ctx, marker)),
                    ("MaxKeys", max_keys), ("Delimiter", self._enc(ctx, delimiter)),
                    ("IsTruncated", _b(truncated))]
        if truncated and page:
            children.append(("NextMarker", self._enc(ctx, page[-1][0])))
        if ctx.q.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        children += [self._contents(ctx, k, o) for k, o in page if o is not None]
        children += [("CommonPrefixes", [("Prefix", self._enc(ctx, k))]) for k, o in page if o is None]
        return 200, {}, _xml("ListBucketResult", children)

    def _op_DeleteMultipleObjects(self, ctx):
        self._check_md5(ctx, required=True)
        try:
            root = ET.fromstring(ctx.body)
        except ET.ParseError:
            raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed.")
        objs = root.findall("Object")
        if root.tag != "Delete" or not objs or len(objs) > 1000:
            raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed or did not validate "
                           "against our published schema.")
        quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
        deleted = []
        for o in objs:
            k = o.findtext("Key") or ""
            ctx.b.objects.pop(k, None)
            deleted.append(k)
        children = []
        if ctx.q.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        if not quiet:
            children += [("Deleted", [("Key", self._enc(ctx, k))]) for k in deleted]
        return 200, {}, _xml("DeleteResult", children)

    def _op_ListMultipartUploads(self, ctx):
        prefix, delimiter = ctx.q.get("prefix", ""), ctx.q.get("delimiter", "")
        key_marker, id_marker = ctx.q.get("key-marker", ""), ctx.q.get("upload-id-marker", "")
        max_uploads = self._max(ctx, "max-uploads", 1000, 1000)
        ups = sorted((u for u in ctx.b.uploads.values() if u.key.startswith(prefix)),
                     key=lambda u: (u.key, u.initiated, u.upload_id))
        entries, seen = [], set()
        for u in ups:
            if key_marker and (u.key < key_marker or (u.key == key_marker and (not id_marker or u.upload_id <= id_marker))):
                continue
            if delimiter:
                i = u.key.find(delimiter, len(prefix))
                if i >= 0:
                    cp = u.key[: i + len(delimiter)]
                    if cp not in seen:
                        seen.add(cp)
                        entries.append((cp, None))
                    continue
            entries.append((u.key, u))
        page, truncated = entries[:max_uploads], len(entries) > max_uploads
        children = [("Bucket", ctx.bucket), ("KeyMarker", self._enc(ctx, key_marker)),
                    ("UploadIdMarker", id_marker)]
        if truncated and page:
            children += [("NextKeyMarker", self._enc(ctx, page[-1][0])),
                         ("NextUploadIdMarker", page[-1][1].upload_id if page[-1][1] else "")]
        children += [("Delimiter", self._enc(ctx, delimiter)), ("Prefix", self._enc(ctx, prefix)),
                     ("MaxUploads", max_uploads), ("IsTruncated", _b(truncated))]
        if ctx.q.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        children += [("Upload", [("Key", self._enc(ctx, u.key)), ("UploadId", u.upload_id),
                                 ("StorageClass", u.storage_class), ("Initiated", iso8601(u.initiated))])
                     for _, u in page if u is not None]
        children += [("CommonPrefixes", [("Prefix", self._enc(ctx, k))]) for k, u in page if u is None]
        return 200, {}, _xml("ListMultipartUploadsResult", children)

    # ---- object operations ----------------------------------------------------------
    def _op_PutObject(self, ctx):
        self._check_md5(ctx)
        self._forbid_overwrite(ctx)
        data = ctx.body
        if self.corrupt_next_put and data:
            self.corrupt_next_put = False
            data = _flip(data)
        o = _Object(data, self._storage_class(ctx), ctx.headers.get("content-type", "application/octet-stream"),
                    self._meta(ctx))
        o.sse = self._sse(ctx)
        ctx.b.objects[ctx.key] = o
        return 200, dict({"ETag": o.etag, "x-oss-hash-crc64ecma": str(o.crc64),
                          "Content-MD5": o.content_md5}, **o.sse), b""

    def _op_GetObject(self, ctx):
        o = self._object(ctx)
        if o.storage_class in ARCHIVE_CLASSES and o.restore_state(self.restore_seconds) != "done":
            raise OSSError(403, "InvalidObjectState", "The operation is not valid for the object's state",
                           {"Key": ctx.key})
        h = self._object_headers(o)
        cond = self._preconditions(ctx, o)
        if cond == 304:
            return 304, {k: v for k, v in h.items() if k in ("ETag", "Last-Modified")}, b""
        if o.object_type == "Normal":
            h["Content-MD5"] = o.content_md5
        rng = ctx.headers.get("range")
        if rng is not None:
            span = _parse_range(rng, len(o.data))
            if span is None:
                if ctx.headers.get("x-oss-range-behavior", "").lower() == "standard":
                    raise OSSError(416, "InvalidRange", "The requested range cannot be satisfied.",
                                   headers={"Content-Range": "bytes */%d" % len(o.data)})
            else:
                a, b = span
                h.pop("Content-MD5", None)
                h["Content-Range"] = "bytes %d-%d/%d" % (a, b, len(o.data))
                return 206, h, o.data[a:b + 1]
        return 200, h, o.data

    def _op_HeadObject(self, ctx):
        o = self._object(ctx)
        h = self._object_headers(o)
        cond = self._preconditions(ctx, o)
        if cond == 304:
            return 304, {k: v for k, v in h.items() if k in ("ETag", "Last-Modified")}, b""
        if o.object_type == "Normal":
            h["Content-MD5"] = o.content_md5
        h["Content-Length"] = str(len(o.data))
        return 200, h, b""

    def _op_GetObjectMeta(self, ctx):
        o = self._object(ctx)
        return 200, {"ETag": o.etag, "Last-Modified": rfc1123(o.last_modified),
                     "Content-Length": str(len(o.data)), "x-oss-hash-crc64ecma": str(o.crc64)}, b""

    def _op_DeleteObject(self, ctx):
        ctx.b.objects.pop(ctx.key, None)
        return 204, {}, b""

    def _op_RestoreObject(self, ctx):
        o = self._object(ctx)
        if o.storage_class not in ARCHIVE_CLASSES:
            raise OSSError(400, "OperationNotSupported", "The operation is not supported for this resource.")
        days = 1
        if ctx.body:
            try:
                d = ET.fromstring(ctx.body).findtext("Days")
                days = int(d) if d else 1
            except (ET.ParseError, ValueError):
                raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed.")
        st = o.restore_state(self.restore_seconds)
        if st == "ongoing":
            raise OSSError(409, "RestoreAlreadyInProgress", "The restore operation is in progress.")
        if st == "done":
            o.restore_days = days
            return 200, {}, b""
        o.restore_started = time.time()
        o.restore_days = days
        return 202, {}, b""

    def _op_InitiateMultipartUpload(self, ctx):
        self._forbid_overwrite(ctx)
        uid = uuid.uuid4().hex.upper()
        ctx.b.uploads[uid] = _Upload(ctx.key, uid, self._storage_class(ctx),
                                     ctx.headers.get("content-type", "application/octet-stream"), self._meta(ctx))
        ctx.b.uploads[uid].sse = self._sse(ctx)
        children = []
        if ctx.q.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        children += [("Bucket", ctx.bucket), ("Key", self._enc(ctx, ctx.key)), ("UploadId", uid)]
        return 200, {}, _xml("InitiateMultipartUploadResult", children)

    def _part_number(self, ctx):
        try:
            n = int(ctx.q.get("partNumber", ""))
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_PART_NUMBER:
            raise OSSError(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.",
                           {"ArgumentName": "partNumber", "ArgumentValue": ctx.q.get("partNumber")})
        return n

    def _op_UploadPart(self, ctx):
        n = self._part_number(ctx)
        u = self._upload(ctx)
        self._check_md5(ctx)
        data = ctx.body
        if self.corrupt_next_part and data:
            self.corrupt_next_part = False
            data = _flip(data)
        etag = md5_etag(data)
        c = crc64(data)
        u.parts[n] = (data, etag, c, time.time())
        return 200, dict({"ETag": etag, "x-oss-hash-crc64ecma": str(c),
                          "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode()}, **u.sse), b""

    def _op_CompleteMultipartUpload(self, ctx):
        u = self._upload(ctx)
        self._check_md5(ctx)
        if ctx.headers.get("x-oss-complete-all", "").lower() == "yes":
            if ctx.body:
                raise OSSError(400, "InvalidArgument", "Should not specify a body with x-oss-complete-all.")
            chosen = sorted(u.parts)
        else:
            try:
                root = ET.fromstring(ctx.body)
            except ET.ParseError:
                raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed.")
            parts = root.findall("Part")
            if root.tag != "CompleteMultipartUpload" or not parts:
                raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed or did not "
                               "validate against our published schema.")
            chosen = []
            for p in parts:
                try:
                    n = int(p.findtext("PartNumber") or "")
                except ValueError:
                    raise OSSError(400, "MalformedXML", "PartNumber is not an integer.")
                etag = (p.findtext("ETag") or "").strip().strip('"').upper()
                if chosen and n <= chosen[-1]:
                    raise OSSError(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts "
                                   "list must specified in order by part number.")
                if n not in u.parts or u.parts[n][1].strip('"') != etag:
                    raise OSSError(400, "InvalidPart", "One or more of the specified parts could not be found or "
                                   "the specified entity tag might not have matched the part's entity tag.",
                                   {"PartNumber": n, "ETag": p.findtext("ETag")})
                chosen.append(n)
        if not chosen:
            raise OSSError(400, "InvalidArgument", "No parts to complete.")
        for n in chosen[:-1]:
            if len(u.parts[n][0]) < self.min_part_size:
                raise OSSError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed "
                               "size.", {"PartNumber": n, "MinSizeAllowed": self.min_part_size})
        self._forbid_overwrite(ctx)
        data = b"".join(u.parts[n][0] for n in chosen)
        digest = hashlib.md5(b"".join(bytes.fromhex(u.parts[n][1].strip('"')) for n in chosen)).hexdigest().upper()
        o = _Object(data, u.storage_class, u.content_type, u.meta, '"%s-%d"' % (digest, len(chosen)), "Multipart")
        o.sse = u.sse
        ctx.b.objects[ctx.key] = o
        del ctx.b.uploads[u.upload_id]
        children = []
        if ctx.q.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        children += [("Location", "http://%s/%s/%s" % (self.endpoint, ctx.bucket, quote(ctx.key))),
                     ("Bucket", ctx.bucket), ("Key", self._enc(ctx, ctx.key)), ("ETag", o.etag)]
        return 200, dict({"ETag": o.etag, "x-oss-hash-crc64ecma": str(o.crc64)}, **o.sse), _xml(
            "CompleteMultipartUploadResult", children)

    def _op_AbortMultipartUpload(self, ctx):
        u = self._upload(ctx)
        del ctx.b.uploads[u.upload_id]
        return 204, {}, b""

    def _op_ListParts(self, ctx):
        u = self._upload(ctx)
        max_parts = self._max(ctx, "max-parts", 1000, 1000)
        try:
            marker = int(ctx.q.get("part-number-marker") or 0)
        except ValueError:
            raise OSSError(400, "InvalidArgument", "part-number-marker is invalid.")
        nums = [n for n in sorted(u.parts) if n > marker]
        page, truncated = nums[:max_parts], len(nums) > max_parts
        children = []
        if ctx.q.get("encoding-type") == "url":
            children.append(("EncodingType", "url"))
        children += [("Bucket", ctx.bucket), ("Key", self._enc(ctx, ctx.key)), ("UploadId", u.upload_id),
                     ("StorageClass", u.storage_class), ("PartNumberMarker", marker),
                     ("NextPartNumberMarker", page[-1] if page else marker), ("MaxParts", max_parts),
                     ("IsTruncated", _b(truncated))]
        for n in page:
            data, etag, c, lm = u.parts[n]
            children.append(("Part", [("PartNumber", n), ("LastModified", iso8601(lm)), ("ETag", etag),
                                      ("HashCrc64ecma", c), ("Size", len(data))]))
        return 200, {}, _xml("ListPartsResult", children)

    # ---- errors -------------------------------------------------------------------
    def error_body(self, e, request_id, bucket):
        children = [("Code", e.code), ("Message", e.message), ("RequestId", request_id),
                    ("HostId", "%s.%s" % (bucket, self.endpoint) if bucket else self.endpoint)]
        children += [(k, v) for k, v in e.extra.items()]
        return _xml("Error", children)


def _flip(data):
    b = bytearray(data)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


def _parse_range(value, size):
    """(first, last) inclusive, or None when OSS would ignore the range (and return everything)."""
    v = value.strip()
    if not v.startswith("bytes=") or "," in v:
        return None
    a, sep, b = v[6:].strip().partition("-")
    if not sep:
        return None
    try:
        if a == "":
            n = int(b)
            if n <= 0 or size == 0:
                return None
            return max(0, size - n), size - 1
        first = int(a)
        last = int(b) if b != "" else size - 1
    except ValueError:
        return None
    if first < 0 or first >= size or last < first:
        return None
    return first, min(last, size - 1)


class _Ctx:
    def __init__(self, method, bucket, key, q, headers, body, host):
        self.method, self.bucket, self.key, self.q = method, bucket, key, q
        self.headers, self.body, self.host = headers, body, host
        self.b = None


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AliyunOSS"
    sys_version = ""
    timeout = 60
    double = None

    def setup(self):
        super().setup()
        with self.double.lock:
            self.double._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.double.lock:
                self.double._conns.discard(self.connection)

    def log_message(self, *args):
        pass

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        d = self.double
        method = self.command
        body = self._read_body()
        headers = {}
        for k, v in self.headers.items():
            # A field value excludes surrounding whitespace (RFC 9110 5.5), as OSS sees it.
            k, v = k.lower(), v.strip(" \t")
            headers[k] = headers[k] + "," + v if k in headers else v
        request_id = uuid.uuid4().hex[:24].upper()
        bucket = None
        info = {"op": None}
        try:
            bucket = d._resolve_target(headers.get("host", ""), urlsplit(self.path).path or "/")[0]
            res = d.handle(method, self.path, headers, body, info)
            if res is None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._record(method, headers, 0, info["op"])
                return
            status, h, payload = res
            h = dict(h)
            if payload and "Content-Type" not in h and payload.startswith(b"<?xml"):
                h["Content-Type"] = "application/xml"
        except OSSError as e:
            status, payload = e.status, d.error_body(e, request_id, bucket)
            h = {"Content-Type": "application/xml"}
            h.update(e.headers)
            if method == "HEAD":
                h["x-oss-err"] = base64.b64encode(payload).decode()
        except Exception as e:  # a bug in the double: report it as an OSS InternalError
            import traceback
            traceback.print_exc()
            status = 500
            payload = d.error_body(OSSError(500, "InternalError", "OSSDouble bug: %r" % e), request_id, bucket)
            h = {"Content-Type": "application/xml"}
        self._record(method, headers, status, info["op"])
        self.send_response(status)
        h.setdefault("x-oss-request-id", request_id)
        for k, v in h.items():
            if k.lower() != "content-length":
                self.send_header(k, v)
        if status in (204, 304):
            payload = b""
        elif method == "HEAD":
            self.send_header("Content-Length", h.get("Content-Length", "0"))
            payload = b""
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def _record(self, method, headers, status, op):
        parts = urlsplit(self.path)
        with self.double.lock:
            self.double.requests.append({"method": method, "path": parts.path, "query": parts.query,
                                         "op": op, "status": status, "headers": headers})

    def version_string(self):
        return "AliyunOSS"

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
