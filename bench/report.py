#!/usr/bin/env python3
"""Aggregates bench/run.sh results: medians of the repetitions, spread,
ratio to direct measured in the same run, goals met or not.

usage: report.py [--smoke] [--out RESULTS.md] results.jsonl meta.json
       commands.txt [leaf.txt]
In smoke mode it prints a short table and exits 1 unless every request
succeeded and every proxy's injection was verified."""

import json
import statistics
import sys

SCEN = ["S1", "S2", "S3", "S4", "S5"]
TITLES = {
    "S1": "plain HTTP keep-alive",
    "S2": "HTTPS CONNECT tunnel, keep-alive",
    "S3": "HTTPS intercepted + injection, keep-alive",
    "S4": "HTTPS intercepted + injection, new TCP+CONNECT+TLS per request",
    "S5": "1 MiB downloads intercepted",
}
# Goal: moat's ratio to direct (S5 in MiB/s, others in requests/s).
GOALS = {"S1": 0.6, "S2": 0.9, "S3": 0.6, "S4": 0.6, "S5": 0.7}
TARGETS = ["direct", "moat", "squid", "mitmproxy", "tinyproxy"]
ANALYSIS_MARK = "<!-- analysis: kept across runs -->"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def metric(sc, r):
    return r["mib_per_s"] if sc == "S5" else r["rps"]


def cells(rows):
    """{(target, scenario): [result, ...]}; each result also gets
    cpu_us: CPU microseconds the proxy (direct: the origin) spent per
    request, warm-up included."""
    out = {}
    for r in rows:
        if "result" in r:
            res = dict(r["result"])
            tot = res.get("total", 0)
            if "cpu_ticks" in r and tot:
                res["cpu_us"] = r["cpu_ticks"] * 1e6 / r["hz"] / tot
            out.setdefault((r["target"], r["scenario"]), []).append(res)
    return out


def med(xs):
    return statistics.median(xs) if xs else None


def spread(xs):
    m = med(xs)
    if not xs or not m:
        return 0.0
    return (max(xs) - min(xs)) / m * 100


def fmt_num(x, sc):
    if x is None:
        return "-"
    if sc == "S5":
        return "%.0f MiB/s" % x
    return "{:,.0f}/s".format(x)


class Summary:
    def __init__(self, rows):
        self.rows = rows
        self.c = cells(rows)
        self.errors = 0
        self.first_errors = []
        for (t, sc), rs in self.c.items():
            for r in rs:
                if r.get("errors", 0) or not r.get("requests", 0):
                    self.errors += max(1, r.get("errors", 0))
                    self.first_errors.append(
                        "%s %s: %s" % (t, sc, r.get("first_error", "")))
        self.verify = {r["target"]: r["ok"] for r in rows
                       if r.get("scenario") == "verify"}
        self.s6 = {r["target"]: r for r in rows
                   if r.get("scenario") == "S6"}
        self.s7 = [r for r in rows if r.get("scenario") == "S7"]
        self.floor = next((r for r in rows
                           if r.get("scenario") == "rss_floor"), None)
        self.leaf = ""
        self.leaf_us = None

    def set_leaf(self, text):
        self.leaf = text
        for line in text.splitlines():
            if line.startswith("per new host"):
                try:
                    self.leaf_us = float(line.split(":")[1].split()[0])
                except (IndexError, ValueError):
                    pass

    def value(self, t, sc, key=None):
        rs = self.c.get((t, sc), [])
        if not rs:
            return None, 0.0
        xs = [r[key] if key else metric(sc, r) for r in rs]
        return med(xs), spread(xs)

    def ratio(self, t, sc, key=None):
        v, _ = self.value(t, sc, key)
        d, _ = self.value("direct", sc, key)
        if v is None or not d:
            return None
        return v / d


def goal_lines(s, targets):
    """[(goal text, measured text, met: True/False/None, reason)]"""
    out = []
    for sc in SCEN:
        r = s.ratio("moat", sc)
        peer = "squid"
        pr = s.ratio(peer, sc)
        want = GOALS[sc]
        what = "MiB/s" if sc == "S5" else "req/s"
        if r is None:
            out.append(("%s %s >= %.1fx direct" % (sc, what, want),
                        "not measured", None, "no result"))
            continue
        met = r >= want
        reason = "%.2fx direct" % r
        if pr is not None:
            met2 = r >= 2 * pr
            reason += "; squid%s %.2fx, so %.1fx squid's ratio" % (
                "-bump" if sc in ("S3", "S4", "S5") else "", pr,
                r / pr if pr else float("inf"))
            if not met2:
                reason += " (below 2x)"
                if 2 * pr > 1.0:
                    # 2x squid's ratio is faster than direct itself.
                    reason += ("; 2x squid's %.2fx is %.2fx direct, which "
                               "no proxy can reach" % (pr, 2 * pr))
            met = met and met2
        else:
            reason += "; squid not measured"
        out.append(("%s %s >= %.1fx direct and >= 2x squid's ratio" %
                    (sc, what, want), "%.2fx" % r, met, reason))
    p = s.value("moat", "S3", "p99_ms")[0]
    d = s.value("direct", "S3", "p99_ms")[0]
    if p is not None and d:
        out.append(("S3 p99 <= 2x direct p99", "%.2f ms vs %.2f ms" % (p, d),
                    p <= 2 * d, "%.2fx direct p99" % (p / d)))
    m = s.s6.get("moat")
    if m:
        idle = m["idle_kib"] / 1024
        anon = m.get("idle_anon_kib", 0) / 1024
        why = ("VmRSS after start and the injection check; %.1f MiB "
               "of it private (RssAnon), the rest shared library pages "
               "(libcrypto, libc)" % anon)
        if s.floor and s.floor.get("vmrss_kib", -1) > 0:
            why += ("; the floor, a process that only sets up OpenSSL "
                    "(server and client SSL_CTX, a P-256 key, the system "
                    "roots) and an event base: %.1f MiB (%.1f MiB private)"
                    % (s.floor["vmrss_kib"] / 1024,
                       s.floor.get("anon_kib", 0) / 1024))
        out.append(("S6 idle RSS <= 4 MiB", "%.1f MiB" % idle, idle <= 4,
                    why))
        if "tunnel_per_conn_kib" in m:
            v = m["tunnel_per_conn_kib"]
            out.append(("S6 <= 8 KiB per idle tunnel", "%.1f KiB" % v,
                        v <= 8, "RSS growth / tunnels held"))
        if "tls_per_conn_kib" in m:
            v = m["tls_per_conn_kib"]
            out.append(("S6 <= 48 KiB per idle intercepted session",
                        "%.1f KiB" % v, v <= 48,
                        "RSS growth / sessions held (client and upstream "
                        "TLS)"))
    rd = [r["ms"] for r in s.rows
          if r.get("scenario") == "ready" and r.get("ok")]
    if rd:
        m = med(rd)
        out.append(("moat proxy ready < 20 ms after start",
                    "%.1f ms" % m, m < 20,
                    "median of %d starts to the HTTP_PROXY line" % len(rd)))
    if s.leaf_us is not None:
        out.append(("leaf minting < 1 ms per new host",
                    "%.0f us" % s.leaf_us, s.leaf_us < 1000,
                    "bench_leaf_mint (certs helper), wall clock"))
    s7 = [r for r in s.s7 if "measured" in r]
    if s7 and s7[0]["measured"]:
        dk = med([r["seconds"] for r in s.s7 if r.get("target") == "docker"])
        mt = med([r["seconds"] for r in s.s7 if r.get("target") == "moat"])
        dn = [r["seconds"] for r in s.s7 if r.get("target") == "docker-net"]
        why = "%.2fx" % (mt / dk)
        if dn:
            # What Docker itself takes for a run on a fresh per-run
            # network: the floor of any tool that makes one.
            why += ("; Docker alone with a fresh --internal network "
                    "(create, then run on it) %.2f s = %.2fx, so moat adds "
                    "%.2fx over that" % (med(dn), med(dn) / dk,
                                         mt / med(dn)))
        out.append(("S7 moat run <= 1.3x docker run", "%.2f s vs %.2f s" %
                    (mt, dk), mt <= 1.3 * dk, why))
    else:
        why = s7[0].get("reason", "not run") if s7 else "not run"
        out.append(("S7 moat run <= 1.3x docker run", "not measured", None,
                    why))
    return out


def main_table(s, targets):
    lines = []
    head = "| scenario | " + " | ".join(targets) + " |"
    lines.append(head)
    lines.append("|" + "---|" * (len(targets) + 1))
    for sc in SCEN:
        row = ["%s %s" % (sc, TITLES[sc])]
        for t in targets:
            v, sp = s.value(t, sc)
            if v is None:
                row.append("n/a")
                continue
            cell = "%s ±%.0f%%" % (fmt_num(v, sc), sp / 2)
            if t != "direct":
                cell += " · **%.2fx**" % s.ratio(t, sc)
            row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    # latency rows
    for sc in SCEN:
        row = ["%s p50 / p99 latency" % sc]
        for t in targets:
            p50 = s.value(t, sc, "p50_ms")[0]
            p99 = s.value(t, sc, "p99_ms")[0]
            row.append("n/a" if p50 is None else
                       "%.2f / %.2f ms" % (p50, p99))
        lines.append("| " + " | ".join(row) + " |")
    for sc in SCEN:
        row = ["%s CPU per request (direct: origin's)" % sc]
        for t in targets:
            v = s.value(t, sc, "cpu_us")[0]
            row.append("n/a" if v is None else "%.0f µs" % v)
        lines.append("| " + " | ".join(row) + " |")
    # S6
    for key, title in (("idle_kib", "S6 RSS idle"),
                       ("idle_anon_kib", "S6 private (RssAnon) idle"),
                       ("tunnel_per_conn_kib", "S6 RSS per idle tunnel"),
                       ("tls_per_conn_kib",
                        "S6 RSS per idle intercepted TLS session")):
        row = [title]
        for t in targets:
            m = s.s6.get(t)
            if t == "direct" or m is None or key not in m:
                row.append("n/a")
            elif key in ("idle_kib", "idle_anon_kib"):
                row.append("%.1f MiB" % (m[key] / 1024))
            else:
                row.append("%.1f KiB" % m[key])
        lines.append("| " + " | ".join(row) + " |")
    return lines


def render_md(s, meta, commands, targets):
    out = ["# moat benchmark results", ""]
    out.append("Generated by `bench/run.sh` on %s. Each cell: median of %d "
               "runs of %s s (after %s s warm-up), ± half the spread "
               "(max-min) as %% of the median, and **the ratio to direct "
               "measured in the same run**." % (
                   meta["date"], meta["reps"], meta["duration"],
                   meta["warmup"]))
    out.append("")
    out.append("**Noise warning:** this machine has %d CPUs and is shared "
               "with other sessions compiling and running tests while the "
               "benchmark runs: req/s and their ratios swing by 20-60 %% "
               "between runs; the CPU-per-request rows (from "
               "/proc/PID/stat) are the steadiest figure. Pinning: %s." % (
                   meta["ncpu"], meta["pinned"]))
    out.append("")
    out += main_table(s, targets)
    out.append("")
    out.append("## Goals (moat)")
    out.append("")
    out.append("| goal | measured | met | why |")
    out.append("|---|---|---|---|")
    for g, m, met, why in goal_lines(s, targets):
        out.append("| %s | %s | %s | %s |" % (
            g, m, "not measured" if met is None else
            ("met" if met else "**not met**"), why))
    out.append("")
    out.append("## Setup")
    out.append("")
    out.append("- Origin: %s on 127.0.0.1 (`/tiny` 13 bytes, `/1m` 1 MiB, "
               "`/auth` reports the Authorization header as a SHA-256)." %
               meta["origin"])
    out.append("- Client: `moat_loadgen` (bench/loadgen.c, libevent + "
               "OpenSSL), concurrency %d (S5: %d), every response checked "
               "(status and exact body or length); TLS verified against "
               "the CA the client is meant to trust, with SNI." % (
                   meta["conc"], meta["conc_big"]))
    out.append("- S6 holds %d connections; each completed one request "
               "before idling. RSS is VmRSS of the proxy and its children "
               "(/proc/PID/status)." % meta["hold"])
    out.append("- Machine: %s, %d CPUs, kernel %s, %s, libevent %s." % (
        meta["cpu"], meta["ncpu"], meta["kernel"], meta["openssl"],
        meta["libevent"]))
    for t in targets:
        if t in meta["versions"]:
            out.append("- %s: %s — %s" % (t, meta["versions"][t],
                                          meta["notes"].get(t, "")))
    out.append("")
    if s.leaf:
        out.append("## Leaf minting (bench_leaf_mint)")
        out.append("")
        out.append("```")
        out += s.leaf.rstrip("\n").splitlines()
        out.append("```")
        out.append("")
    out.append("## Exact commands (first repetition)")
    out.append("")
    out.append("The proxy URL (with its credentials) is passed to the "
               "client in `BENCH_PROXY`, the direct runs' Authorization "
               "header in `BENCH_AUTH_HEADER`: secrets stay out of argv.")
    out.append("")
    out.append("```")
    out += [c.rstrip("\n") for c in commands]
    out.append("```")
    if s.first_errors:
        out.append("")
        out.append("## Errors")
        out += ["- " + e for e in s.first_errors[:20]]
    return "\n".join(out) + "\n"


def main():
    args = sys.argv[1:]
    smoke = False
    outpath = None
    if args and args[0] == "--smoke":
        smoke = True
        args = args[1:]
    if len(args) >= 2 and args[0] == "--out":
        outpath = args[1]
        args = args[2:]
    rows = load(args[0])
    meta = load(args[1])[0]
    with open(args[2]) as f:
        commands = f.readlines()
    s = Summary(rows)
    if len(args) > 3:
        with open(args[3]) as f:
            s.set_leaf(f.read())
    targets = [t for t in TARGETS
               if t == "direct" or any(k[0] == t for k in s.c)]
    print("\n".join(main_table(s, targets)))
    bad = s.errors > 0 or not all(s.verify.values()) or not s.verify
    for sc in SCEN:
        for t in targets:
            if (t, sc) in s.c:
                continue
            if t in ("direct", "moat"):
                print("missing result: %s %s" % (t, sc))
                bad = True
    if smoke:
        for e in s.first_errors:
            print("error: " + e)
        print("smoke: %s" % ("FAILED" if bad else
                             "every request succeeded, injection verified"))
        return 1 if bad else 0
    print()
    for g, m, met, why in goal_lines(s, targets):
        print("%-60s %-24s %s (%s)" % (g, m, "n/m" if met is None else
                                       ("met" if met else "NOT MET"), why))
    # A hand-written analysis below the marker survives a re-run.
    kept = ""
    try:
        with open(outpath) as f:
            old = f.read()
        if ANALYSIS_MARK in old:
            kept = old[old.index(ANALYSIS_MARK):]
    except OSError:
        pass
    with open(outpath, "w") as f:
        f.write(render_md(s, meta, commands, targets))
        if kept:
            f.write("\n" + kept)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
