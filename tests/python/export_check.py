"""Reads madbus exports with pandas (CSV, NDJSON) and pyarrow (Parquet), for the Rust
integration tests.

Reads a plan (JSON) on stdin: {"base_url": ..., "headers": {...}, "requests": [path, ...]},
fetches each path (asking for gzip), and prints one JSON report on stdout: for each path,
{"status", "content_encoding", "content_type", "rows": [...], "types": {column: type}}, with
times as epoch milliseconds and missing values as null.
"""

import gzip
import io
import json
import math
import sys
import urllib.request

import pandas as pd
import pyarrow.parquet as pq


def fetch(url, headers):
    req = urllib.request.Request(url, headers={**headers, "Accept-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            body, head, status = r.read(), r.headers, r.status
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    if head.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return status, head, body


def plain(v):
    if isinstance(v, pd.Timestamp):
        return int(v.value // 1_000_000)
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NaT or v is None:
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def main():
    plan = json.load(sys.stdin)
    report = {}
    for path in plan["requests"]:
        status, head, body = fetch(plan["base_url"] + path, plan["headers"])
        entry = {
            "status": status,
            "content_encoding": head.get("Content-Encoding"),
            "content_type": head.get("Content-Type"),
        }
        if status == 200:
            if "format=parquet" in path:
                frame = pq.read_table(io.BytesIO(body)).to_pandas()
            elif "format=ndjson" in path:
                frame = pd.read_json(
                    io.BytesIO(body), lines=True, dtype=False, convert_dates=False, precise_float=True
                )
            else:
                frame = pd.read_csv(io.BytesIO(body), keep_default_na=True)
            entry["types"] = {c: str(t) for c, t in frame.dtypes.items()}
            entry["rows"] = [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
        else:
            entry["body"] = body.decode("utf-8", "replace")
        report[path] = entry
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
