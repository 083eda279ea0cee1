#!/usr/bin/env python3
"""Asks a Prometheus server over its HTTP API (tests/system/cluster.sh).

  promql.py URL alerts        one line per alert: NAME STATE LABEL=VALUE,...
                              (labels sorted, alertname and severity left out)
  promql.py URL query EXPR    one line per sample: LABEL=VALUE,... VALUE
  promql.py URL evaluated     the earliest last evaluation of any rule group
                              (Unix seconds, float)
  promql.py URL ready         exit 0 when the server is ready
"""
import json
import sys
import urllib.parse
import urllib.request
from datetime import datetime


def get(url, path, **params):
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}{path}?{query}", timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        sys.exit(f"prometheus: {body}")
    return body["data"]


def labels(m, skip=("alertname", "severity", "__name__")):
    return ",".join(f"{k}={v}" for k, v in sorted(m.items()) if k not in skip)


def main():
    url, what = sys.argv[1], sys.argv[2]
    if what == "ready":
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as r:
                sys.exit(0 if r.status == 200 else 1)
        except OSError:
            sys.exit(1)
    if what == "alerts":
        for a in get(url, "/api/v1/alerts")["alerts"]:
            print(a["labels"]["alertname"], a["state"], labels(a["labels"]))
    elif what == "query":
        for s in get(url, "/api/v1/query", query=sys.argv[3])["result"]:
            print(labels(s["metric"]) or "-", s["value"][1])
    elif what == "evaluated":
        groups = get(url, "/api/v1/rules")["groups"]
        times = []
        for g in groups:
            t = g.get("lastEvaluation", "")
            # RFC 3339 with nanoseconds: keep microseconds for fromisoformat.
            if not t or t.startswith("0001"):
                times.append(0.0)
                continue
            head, _, frac = t.rstrip("Z").partition(".")
            frac = (frac + "000000")[:6]
            times.append(datetime.fromisoformat(f"{head}.{frac}+00:00").timestamp())
        print(min(times) if times else 0.0)
    else:
        sys.exit(f"unknown: {what}")


if __name__ == "__main__":
    main()
