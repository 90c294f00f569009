#!/usr/bin/env python3
"""Signature oracle: signs requests with botocore's S3SigV4Auth, clock fixed per request.
stdin: JSON list of {method, url, headers: [[k, v]], body_b64, unsigned, access, secret,
token, region, date}; stdout: JSON list of {authorization, x-amz-date, x-amz-content-sha256}."""
import base64
import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def sign(r):
    creds = Credentials(r["access"], r["secret"], r.get("token"))
    body = base64.b64decode(r["body_b64"]) if r.get("body_b64") else b""
    req = AWSRequest(method=r["method"], url=r["url"], data=body)
    for k, v in r["headers"]:
        req.headers[k] = v
    if r.get("unsigned"):
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        req.context["has_streaming_input"] = True
    fixed = datetime.datetime.fromtimestamp(r["date"], datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=fixed):
        botocore.auth.S3SigV4Auth(creds, "s3", r["region"]).add_auth(req)
    return {
        "authorization": req.headers["Authorization"],
        "x-amz-date": req.headers["X-Amz-Date"],
        "x-amz-content-sha256": req.headers["X-Amz-Content-SHA256"],
    }


if __name__ == "__main__":
    reqs = json.load(sys.stdin)
    json.dump([sign(r) for r in reqs], sys.stdout)
