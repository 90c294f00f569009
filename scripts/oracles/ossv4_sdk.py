#!/usr/bin/env python3
"""Signature oracle: signs requests with the official Alibaba Cloud OSS SDK's SignerV4
(alibabacloud-oss-v2, `alibabacloud_oss_v2/signer/v4.py`), clock fixed per request.

stdin: JSON list of {method, url, headers: [[k, v]], bucket (or null), key (or null), access,
secret, token (or null), region, date (unix seconds), additional_headers: [names] (optional),
product (optional, default "oss"), presign: bool (optional), expires (seconds, for presign)}.
stdout: JSON list of {"authorization", "x-oss-date", "x-oss-content-sha256", "date"} (every value a
string), or {"url": signed url} for presign.

The SDK takes the canonical query from the URL's query string exactly as written (already
percent-encoded; split on '&', then on the first '='; a key without '=' or with an empty value
is valueless; pairs sorted as encoded strings), and the canonical URI from `bucket` and `key`
(unencoded; quoted with urllib's quote(safe='/')), never from the URL's path. So the URL is
passed through unchanged.

`--vectors [FILE]`: replays the SDK project's own published V4 test vectors
(Tests/Fixtures/ossv4-vectors.json by default) through the installed SDK and prints one JSON
object per vector with what the SDK produced; exits 1 if any differs from the published value.
"""
import datetime
import json
import os
import sys
from urllib.parse import quote, urlencode

from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
from alibabacloud_oss_v2.signer import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext


def _utc(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)


def _context(r, request):
    cred = StaticCredentialsProvider(r["access"], r["secret"], r.get("token") or None).get_credentials()
    extra = r.get("additional_headers")
    return SigningContext(
        product=r.get("product") or "oss",
        region=r["region"],
        bucket=r.get("bucket"),
        key=r.get("key"),
        request=request,
        credentials=cred,
        signing_time=_utc(r["date"]),
        additional_headers=set(extra) if extra else None,
    )


def sign(r):
    request = HttpRequest(r["method"], r["url"])
    for k, v in r.get("headers") or []:
        request.headers[k] = v
    SignerV4().sign(_context(r, request))
    return {
        "authorization": request.headers["Authorization"],
        "x-oss-date": request.headers["x-oss-date"],
        "x-oss-content-sha256": request.headers["x-oss-content-sha256"],
        "date": request.headers["Date"],
    }


def presign(r):
    request = HttpRequest(r["method"], r["url"])
    for k, v in r.get("headers") or []:
        request.headers[k] = v
    ctx = _context(r, request)
    ctx.auth_method_query = True
    ctx.expiration_time = _utc(r["date"] + int(r["expires"]))
    SignerV4().sign(ctx)
    return {"url": request.url}


def _vector_url(v):
    # The SDK tests build the query with urlencode(parameters, quote_via=quote).
    url = "http://%s.oss-%s.aliyuncs.com" % (v["bucket"], v["region"]) if v.get("bucket") else "http://oss.aliyuncs.com"
    if v.get("query"):
        url += "?" + urlencode([tuple(p) for p in v["query"]], quote_via=quote)
    return url


def replay_vectors(path):
    vectors = json.load(open(path))
    out, ok = [], True
    for v in vectors:
        r = dict(v, url=_vector_url(v))
        if v.get("presign"):
            got = presign(r)["url"]
            q = dict(p.partition("=")[::2] for p in got.split("?", 1)[1].split("&"))
            mismatches = {k: q.get(k) for k, want in v["expected_query"].items() if q.get(k) != want}
            good = not mismatches
            out.append({"name": v["name"], "ok": good, "url": got, "mismatches": mismatches})
        else:
            got = sign(r)["authorization"]
            good = got == v["expected_authorization"]
            out.append({"name": v["name"], "ok": good, "authorization": got,
                        "expected_authorization": v["expected_authorization"]})
        ok = ok and good
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--vectors":
        here = os.path.dirname(os.path.abspath(__file__))
        default = os.path.join(here, "..", "..", "Tests", "Fixtures", "ossv4-vectors.json")
        sys.exit(replay_vectors(sys.argv[2] if len(sys.argv) > 2 else default))
    reqs = json.load(sys.stdin)
    json.dump([presign(r) if r.get("presign") else sign(r) for r in reqs], sys.stdout)
