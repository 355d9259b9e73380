# SPDX-License-Identifier: MIT
"""The monitoring kit against a running prismd: every metric (and every label it selects
on) that packaging/grafana/prism.json and packaging/prometheus/prism-alerts.yml use is in
prismd's /metrics, the dashboard is well-formed Grafana JSON over a data source variable,
and docs/operations.md's alert table names the kit's alerts and real metrics.
(`promtool check rules` and `promtool test rules` run in scripts/check.sh.)"""
import json
import os
import re

import requests
import yaml

from prismlib import ROOT, wait_for

GRAFANA = os.path.join(ROOT, "packaging", "grafana", "prism.json")
ALERTS = os.path.join(ROOT, "packaging", "prometheus", "prism-alerts.yml")
OPERATIONS = os.path.join(ROOT, "docs", "operations.md")
SELECTOR = re.compile(r"\b(prism_[a-z0-9_]+)(\{([^}]*)\})?")
MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
# labels Prometheus adds to every series it scrapes
SCRAPE_LABELS = {"instance", "job"}


def kit_exprs():
    with open(GRAFANA) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    with open(ALERTS) as f:
        rules = yaml.safe_load(f)
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return dash, rules, exprs


def scrape(text):
    """{series name: {label: set of values}} from Prometheus text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][\w:]*)(\{(.*)\})? ", line)
        labels = out.setdefault(m.group(1), {})
        for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""):
            labels.setdefault(k, set()).add(v)
    return out


def problems(exprs, have):
    found = []
    for e in exprs:
        for name, _, matchers in SELECTOR.findall(e):
            if name not in have:
                found.append(f"{name}: not exported")
                continue
            for label, op, value in MATCHER.findall(matchers):
                if label in SCRAPE_LABELS:
                    continue
                if label not in have[name]:
                    found.append(f"{name}: no label {label}")
                elif op == "=" and "$" not in value and value not in have[name][label]:
                    found.append(f'{name}: no series with {label}="{value}"')
    return sorted(set(found))


def test_every_metric_of_the_kit_is_exported(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml="api:\n  public_metrics: true\n")
    assert d.register("mon1")["status"] == "success"
    wait_for(lambda: pdns.query("mon1.managed.prism.local.") == ["127.0.0.1"], 15,
             what="the record at PowerDNS")
    _, _, exprs = kit_exprs()
    assert len(exprs) > 30
    left = []

    def complete():
        r = requests.get(f"http://127.0.0.1:{d.api_port}/metrics", timeout=5)
        assert r.status_code == 200, r.text
        left[:] = problems(exprs, scrape(r.text))
        return not left
    try:
        # the target's health appears after its first check
        wait_for(complete, 20, what="every metric of the kit")
    except TimeoutError:
        raise AssertionError("\n".join(left)) from None


def test_the_check_fails_for_a_metric_that_does_not_exist():
    have = {"prism_target_state": {"target": {"a"}, "state": {"ok", "backoff"}}}
    assert problems(['prism_target_state{state="backoff"} == 1'], have) == []
    assert problems(["prism_target_failures > 0"], have) == \
        ["prism_target_failures: not exported"]
    assert problems(['prism_target_state{status="x"}'], have) == \
        ["prism_target_state: no label status"]
    assert problems(['prism_target_state{state="down", instance="i"}'], have) == \
        ['prism_target_state: no series with state="down"']


def test_grafana_dashboard_is_well_formed():
    dash, _, _ = kit_exprs()
    assert dash["title"] == "Prism" and dash["uid"]
    names = [v["name"] for v in dash["templating"]["list"]]
    assert names[0] == "datasource" and "instance" in names and "target" in names
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
            assert 'instance=~"$instance"' in t["expr"], (p["title"], t["expr"])
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for what in ("registrations", "agents connected", "backlog", "oldest pending",
                 "powerdns", "latency", "conflict", "health"):
        assert what in titles, what


def test_operations_alert_table_matches_the_rules():
    _, rules, _ = kit_exprs()
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    with open(OPERATIONS) as f:
        text = f.read()
    section = text.split("## Monitor", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `Prism")]
    documented = {re.match(r"\| `(\w+)`", ln).group(1) for ln in rows}
    assert documented == alerts
    # every metric the table names is exported (the list in api.md is the reference)
    with open(os.path.join(ROOT, "docs", "api.md")) as f:
        api = f.read()
    for name in set(re.findall(r"\bprism_[a-z0-9_]+", section)):
        assert f"`{name}`" in api or name + "_total" in api, name
