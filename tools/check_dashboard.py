#!/usr/bin/env python3
"""Checks that the Grafana dashboard and the Prometheus rules in deploy/ use only what nodecell
exports (run by scripts/check-deploy-monitoring.sh):

- every metric name in a PromQL expression (the dashboard's panel targets and template
  variables, the rules' `expr`) is one of nodecell's: a name of the METRICS table in
  crates/nodecell-server/src/telemetry.rs (a histogram's as `_bucket`, `_sum`, `_count`), one of
  the process_* metrics it exports, or Prometheus's own `up`;
- every label name in a matcher or in by/without/on/ignoring/group_* is one of the labels
  telemetry.rs puts on its series, a target label (job, instance) or `le`;
- with --metrics FILE (a scrape of a real `nodecell serve`'s /metrics): each metric exists
  there, each label a matcher names is on that metric's series, and each value an `=` or a plain
  `=~"a|b"` matcher asks for is one a series has (every series exists from the start at zero);
- the dashboard's structure: its datasource is the `${DS_PROMETHEUS}` variable (of type
  datasource) everywhere, panel ids are unique, every panel has a gridPos and a target.

Usage: check_dashboard.py [--metrics FILE] FILE.json|FILE.yml ...   Exits 1 with each problem.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TELEMETRY = os.path.join(ROOT, "crates/nodecell-server/src/telemetry.rs")

# What `metrics_process::Collector` exports on Linux (telemetry.rs `refresh`).
PROCESS_METRICS = {
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
}
# Series Prometheus adds to every target itself.
SCRAPE_METRICS = {"up"}
TARGET_LABELS = {"job", "instance"}
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2", "start", "end",
}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^{}]*)\}")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def telemetry():
    """The series names and label names of telemetry.rs."""
    src = open(TELEMETRY).read()
    consts = dict(re.findall(r'pub const (\w+): &str = "(\w+)";', src))
    table = re.search(r"pub const METRICS: &\[Metric\] = &\[(.*?)\n\];", src, re.S)
    if not table:
        sys.exit(f"{TELEMETRY}: no METRICS table")
    names = set()
    for const, kind in re.findall(r"Metric\s*\{\s*name:\s*(\w+),\s*kind:\s*Kind::(\w+)", table.group(1)):
        name = consts.get(const, const)
        if kind == "Histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
        else:
            names.add(name)
    if not names:
        sys.exit(f"{TELEMETRY}: the METRICS table names no metric")
    # Label keys: `("status", …)` pairs and `"reason" => …` in the metrics macros.
    labels = set(re.findall(r'\(\s*"(\w+)"\s*,', src)) | set(re.findall(r'"(\w+)"\s*=>', src))
    return names, labels


def scrape(path):
    """metric name -> {label name -> set of values} of a Prometheus text exposition."""
    series = {}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s", line)
        if not m:
            continue
        labels = series.setdefault(m.group(1), {})
        for k, _, v in MATCHER.findall(m.group(3) or ""):
            labels.setdefault(k, set()).add(v)
    return series


def exprs_of_dashboard(path, problems):
    d = json.load(open(path))
    out = []
    var_types = {v.get("name"): v.get("type") for v in d.get("templating", {}).get("list", [])}
    if var_types.get("DS_PROMETHEUS") != "datasource":
        problems.append(f"{path}: no templating variable DS_PROMETHEUS of type datasource")
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q or "")
            out.append((f"{path}: variable {v['name']}", m.group(1) if m else q or ""))
            check_datasource(path, f"variable {v['name']}", v.get("datasource"), problems)
    ids = set()

    def walk(panels):
        for p in panels:
            where = f"panel {p.get('id')} {p.get('title')!r}"
            if p.get("id") in ids:
                problems.append(f"{path}: {where}: duplicate id")
            ids.add(p.get("id"))
            if "gridPos" not in p:
                problems.append(f"{path}: {where}: no gridPos")
            if p.get("type") == "row":
                walk(p.get("panels", []))
                continue
            check_datasource(path, where, p.get("datasource"), problems)
            if not p.get("targets"):
                problems.append(f"{path}: {where}: no targets")
            for t in p.get("targets", []):
                check_datasource(path, where, t.get("datasource", p.get("datasource")), problems)
                out.append((f"{path}: {where} {t.get('refId')}", t.get("expr", "")))

    walk(d.get("panels", []))
    return out


def check_datasource(path, where, ds, problems):
    if not isinstance(ds, dict) or ds.get("uid") != "${DS_PROMETHEUS}":
        problems.append(f"{path}: {where}: datasource is not ${{DS_PROMETHEUS}}: {ds!r}")


def exprs_of_rules(path):
    try:
        import yaml
    except ImportError:
        sys.exit("check_dashboard.py needs PyYAML (Debian: python3-yaml)")
    doc = yaml.safe_load(open(path))
    out = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            name = r.get("alert") or r.get("record")
            out.append((f"{path}: rule {name}", str(r.get("expr", ""))))
    return out


def check_expr(where, expr, known, known_labels, live, problems):
    if not expr.strip():
        problems.append(f"{where}: empty expression")
        return
    # Grafana's variables ($__rate_interval, ${x}, $x) never name a metric.
    text = re.sub(r"\$\{[^}]*\}|\$\w+", "VAR", expr)
    used = []  # (metric or None, [(label, op, value)])
    for metric, body in SELECTOR.findall(text):
        used.append((metric or None, MATCHER.findall(body)))
    text = SELECTOR.sub(lambda m: (m.group(1) or "") + " ", text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    grouping = set()
    for _, names in GROUPING.findall(text):
        grouping |= {n.strip() for n in names.split(",") if n.strip()}
    text = GROUPING.sub(" ", text)
    text = re.sub(r"(?<![A-Za-z0-9_:.])[0-9][0-9.]*(?:[eE][+-]?[0-9]+)?", " ", text)
    metrics = set()
    for m in IDENT.finditer(text):
        word = m.group(0)
        if word.lower() in KEYWORDS or re.match(r"\s*\(", text[m.end():]):
            continue
        metrics.add(word)
        if word not in known:
            problems.append(f"{where}: {word} is not a metric nodecell exports")
        elif live is not None and word not in live and word not in SCRAPE_METRICS:
            problems.append(f"{where}: {word} is not in the live scrape")
    allowed = known_labels | TARGET_LABELS | {"le"}
    for label in grouping:
        if label not in allowed:
            problems.append(f"{where}: label {label} is on no nodecell series")
    for metric, matchers in used:
        for label, op, value in matchers:
            if label == "__name__":
                continue
            if label not in allowed:
                problems.append(f"{where}: label {label} is on no nodecell series")
                continue
            if live is None or metric is None or label in TARGET_LABELS or metric not in live:
                continue
            values = live[metric].get(label)
            if values is None:
                problems.append(f"{where}: {metric} has no label {label} in the live scrape")
                continue
            if op in ("=", "=~") and "VAR" not in value:
                wanted = [value] if op == "=" else value.split("|")
                if op == "=~" and not all(re.fullmatch(r"[A-Za-z0-9_.+]*", w) for w in wanted):
                    continue  # a real regex: not checked value by value
                for w in wanted:
                    if w not in values:
                        problems.append(
                            f"{where}: no {metric} series has {label}={w!r} (it has {sorted(values)})")
    if not metrics:
        problems.append(f"{where}: names no metric: {expr!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metrics", help="a scrape of a real nodecell serve's /metrics")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    names, labels = telemetry()
    known = names | PROCESS_METRICS | SCRAPE_METRICS
    live = scrape(args.metrics) if args.metrics else None
    problems = []
    if live is not None:
        for n in sorted(names | PROCESS_METRICS):
            if n not in live:
                problems.append(f"{args.metrics}: {n} (telemetry.rs / process) is not in the scrape")
    count = 0
    for path in args.files:
        if path.endswith(".json"):
            exprs = exprs_of_dashboard(path, problems)
        else:
            exprs = exprs_of_rules(path)
        if not exprs:
            problems.append(f"{path}: no expressions found")
        for where, expr in exprs:
            check_expr(where, expr, known, labels, live, problems)
            count += 1
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(1)
    how = "telemetry.rs and a live scrape" if live is not None else "telemetry.rs"
    print(f"{count} expressions in {len(args.files)} files use only nodecell's metrics and labels ({how})")


if __name__ == "__main__":
    main()
