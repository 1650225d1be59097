#!/usr/bin/env python3
"""The same full sync as `portcullis sync`, done by the `jira` package from PyPI, for comparison.

Reads every ticket carrying a backport label, 100 per page, with changelogs, from a Jira test
server started by `cargo run --release --example bench_sync -- 10000 datacenter --serve`, and
counts label changes. It stores nothing (portcullis also writes a SQLite ledger), so it is a
lower bound of what a Python sync costs. Set up in a scratch virtualenv:

    python3 -m venv /tmp/jira-venv && /tmp/jira-venv/bin/pip install jira
    /tmp/jira-venv/bin/python examples/compare/jira_py_sync.py URL TOKEN
"""
import resource
import sys
import time

from jira import JIRA

url, token = sys.argv[1], sys.argv[2]
t = time.perf_counter()
client = JIRA(server=url, token_auth=token, get_server_info=False)
jql = 'labels in ("backport-approved", "backport-done", "backport-v23") ORDER BY updated ASC, key ASC'
fields = "summary,status,labels,fixVersions,updated,created,assignee,reporter,components,issuelinks"
start, issues, changes = 0, 0, 0
while True:
    page = client.search_issues(jql, startAt=start, maxResults=100, fields=fields,
                                expand="changelog", json_result=True)
    got = page["issues"]
    for issue in got:
        for h in issue.get("changelog", {}).get("histories", []):
            changes += sum(1 for i in h["items"] if i.get("field") == "labels")
    issues += len(got)
    start += len(got)
    if not got or start >= page["total"]:
        break
elapsed = time.perf_counter() - t
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"python jira {__import__('jira').__version__}: {issues} issues, {changes} label changes "
      f"in {elapsed:.2f} s, peak RSS {peak_mb:.0f} MB")
