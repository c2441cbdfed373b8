#!/usr/bin/env python3
"""Turns the JSON results of bench/compare.sh into a Markdown table with ratios charla/peer,
and checks the issue's targets.

Usage: table.py RUN_DIR "charla ngircd inspircd" "parameters text"
Each result is RUN_DIR/<label>.<scenario>.json, written by `charla-bench ... --json`.
"""

import json
import os
import sys

# (scenario, metric, better): better is "high", "low" or "" (no ratio judgement).
ROWS = [
    ("connect", "registered", "high"),
    ("connect", "held", "high"),
    ("connect", "registrations_per_s", "high"),
    ("connect", "register_p99_ms", "low"),
    ("connect", "rss_per_client_bytes", "low"),
    ("connect", "idle_cpu_pct", "low"),
    ("connect", "idle_wakeups_per_s", "low"),
    ("connect-tls", "held", "high"),
    ("connect-tls", "registrations_per_s", "high"),
    ("connect-tls", "rss_per_client_bytes", "low"),
    ("fanout-low", "delivered_per_s", "high"),
    ("fanout-low", "loss_pct", "low"),
    ("fanout-low", "p50_ms", "low"),
    ("fanout-low", "p99_ms", "low"),
    ("fanout-low", "deliveries_per_cpu_s", "high"),
    ("fanout", "delivered_per_s", "high"),
    ("fanout", "loss_pct", "low"),
    ("fanout", "p50_ms", "low"),
    ("fanout", "p99_ms", "low"),
    ("fanout", "max_ms", "low"),
    ("fanout", "server_cpu_s", "low"),
    ("fanout", "deliveries_per_cpu_s", "high"),
    ("fanout", "generator_cpu_util", ""),
    ("fanout", "machine_load_1m", ""),
    ("fanout-4m", "delivered_per_s", "high"),
    ("fanout-4m", "loss_pct", "low"),
    ("fanout-4m", "p50_ms", "low"),
    ("fanout-4m", "p99_ms", "low"),
    ("fanout-4m", "deliveries_per_cpu_s", "high"),
    ("fanout-4m", "server_cpu_util", ""),
    ("fanout-4m", "generator_cpu_util", ""),
    ("direct", "delivered_per_s", "high"),
    ("direct", "loss_pct", "low"),
    ("direct", "p50_ms", "low"),
    ("direct", "p99_ms", "low"),
    ("direct", "deliveries_per_cpu_s", "high"),
    ("huge", "members", "high"),
    ("huge", "delivered", "high"),
    ("huge", "loss_pct", "low"),
    ("huge", "p50_ms", "low"),
    ("huge", "p99_ms", "low"),
    ("huge", "max_ms", "low"),
    ("huge", "deliveries_per_cpu_s", "high"),
    ("huge", "server_cpu_util", ""),
    ("join-storm", "joins_per_s", "high"),
    ("join-storm", "storm_server_cpu_s", "low"),
    ("join-storm", "baseline_p99_ms", "low"),
    ("join-storm", "probe_p99_ms", "low"),
    ("join-storm", "probe_lost", "low"),
    ("join-storm", "nicks_per_s", "high"),
    ("join-storm", "nick_storm_server_cpu_s", "low"),
    ("join-storm", "nick_probe_p99_ms", "low"),
    ("join-storm", "nick_probe_lost", "low"),
    ("join-storm", "parts_per_s", "high"),
    ("join-storm", "part_storm_server_cpu_s", "low"),
    ("join-storm", "part_probe_p99_ms", "low"),
    ("join-storm", "part_probe_lost", "low"),
    ("join-storm", "quits_per_s", "high"),
    ("join-storm", "quit_storm_server_cpu_s", "low"),
    ("join-storm", "quit_probe_p99_ms", "low"),
    ("join-storm", "quit_probe_lost", "low"),
    ("slow-readers", "slow_disconnected", "high"),
    ("slow-readers", "server_rss_growth_mib", "low"),
    ("slow-readers", "normal_lost", "low"),
    ("slow-readers", "normal_p99_ms", "low"),
    ("big-replies", "rss_per_non_reader_kib", "low"),
    ("big-replies", "rss_after_over_before", "low"),
    ("big-replies", "control_p99_ms", "low"),
    ("expensive-queries", "control_p99_ms", "low"),
    ("expensive-queries", "queries_per_s", "high"),
    ("expensive-queries", "server_cpu_ms_per_query", "low"),
]


def load_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rounds(run, label, scenario):
    """The results of a scenario run in several rounds (<label>.<scenario>.r<N>.json), in
    round order."""
    prefix = f"{label}.{scenario}.r"
    found = []
    for name in os.listdir(run):
        if name.startswith(prefix) and name.endswith(".json") and name[len(prefix):-5].isdigit():
            r = load_file(os.path.join(run, name))
            if r is not None:
                found.append((int(name[len(prefix):-5]), r))
    return [r for _, r in sorted(found, key=lambda x: x[0])]


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def load(run, label, scenario):
    """One scenario's result; for a scenario run in rounds, each figure is the median over
    the rounds."""
    several = rounds(run, label, scenario)
    if not several:
        return load_file(os.path.join(run, f"{label}.{scenario}.json"))
    metrics = {}
    for key, first in several[0]["metrics"].items():
        values = [r["metrics"].get(key) for r in several]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        metrics[key] = median(numbers) if len(numbers) == len(values) else first
    return {**several[0], "metrics": metrics}


def figure(run, label, scenario, key):
    """One figure of one scenario's result (the median over rounds), or None."""
    r = load(run, label, scenario)
    return None if r is None else r["metrics"].get(key)


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v == int(v):
        return f"{v:.0f}"
    return f"{v:.2f}"


def by_run_table(out, intro, column, labels, by_label, n, metrics):
    """A scenario's figures run by run (`by_label`: each label's results, `n` runs at most),
    after `intro`."""
    out.append("")
    out.append(intro)
    out.append("")
    out.append("| figure | " + " | ".join(f"{column} {i + 1}" for i in range(n)) + " |")
    out.append("|---|" + "---:|" * n)
    for metric in metrics:
        for label in labels:
            cells = [fmt(r["metrics"].get(metric)) for r in by_label[label]]
            cells += ["–"] * (n - len(cells))
            out.append(f"| {label} {metric} | " + " | ".join(cells) + " |")


def main():
    run, labels, params = sys.argv[1], sys.argv[2].split(), sys.argv[3]
    charla, peers = labels[0], labels[1:]
    out = []
    out.append(f"Parameters: {params}.")
    out.append("")
    head = ["scenario", "figure"] + labels + [f"{charla}/{p}" for p in peers]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for scenario, metric, better in ROWS:
        values = []
        for label in labels:
            r = load(run, label, scenario)
            values.append(None if r is None else r["metrics"].get(metric))
        if all(v is None for v in values):
            continue
        ratios = []
        for v in values[1:]:
            c = values[0]
            if c is None or v is None or v == 0:
                ratios.append("–")
            else:
                ratios.append(f"{c / v:.2f}×")
        arrow = {"high": " ↑", "low": " ↓"}.get(better, "")
        out.append("| " + " | ".join([scenario, metric + arrow] + [fmt(v) for v in values] + ratios) + " |")
    # Verdicts of the scenarios with a PASS/FAIL or "not supported" outcome.
    for scenario in ["history", "slow-readers", "big-replies", "expensive-queries"]:
        verdicts = []
        for label in labels:
            r = load(run, label, scenario)
            verdicts.append("–" if r is None else r["verdict"])
        if any(v != "–" for v in verdicts):
            out.append("| " + " | ".join([scenario, "verdict"] + verdicts + [""] * len(peers)) + " |")
    out.append("")
    out.append("↑ higher is better, ↓ lower is better; a ratio charla/peer above 1 is better for ↑ rows, below 1 for ↓ rows.")
    # Scenarios run in rounds: the table shows medians; each round's figures follow.
    for scenario in ["fanout-low", "fanout", "fanout-4m"]:
        by_label = {label: rounds(run, label, scenario) for label in labels}
        n = max((len(v) for v in by_label.values()), default=0)
        if n < 2:
            continue
        by_run_table(out, f"{scenario} ran in {n} rounds, the servers in turn (a different one "
                     "first in each round); the table above gives the median of each figure. "
                     "By round:", "round", labels, by_label, n,
                     ["deliveries_per_cpu_s", "p50_ms", "p99_ms"])
        cells = []
        for i in range(n):
            c = by_label[charla][i]["metrics"].get("deliveries_per_cpu_s") if i < len(by_label[charla]) else None
            best = max((by_label[p][i]["metrics"].get("deliveries_per_cpu_s") or 0
                        for p in peers if i < len(by_label[p])), default=0)
            cells.append(f"{c / best:.2f}×" if c and best else "–")
        out.append(f"| {charla} deliveries_per_cpu_s / the better peer's | " + " | ".join(cells) + " |")
    # The join storm: rounds back to back on each server.
    by_label = {label: rounds(run, label, "join-storm") for label in labels}
    n = max((len(v) for v in by_label.values()), default=0)
    if n > 1:
        by_run_table(out, f"join-storm ran {n} times on each server, back to back; the table "
                     "above gives the median of each figure. By run:", "run", labels, by_label, n,
                     ["baseline_p99_ms", "probe_p99_ms", "nick_probe_p99_ms",
                      "part_probe_p99_ms", "quit_probe_p99_ms"])

    abuse = []
    for scenario in ["flood", "conn-storm", "garbage", "half-register"]:
        r = load(run, "charla-defaults", scenario)
        if r is None:
            continue
        keys = {
            "flood": ["baseline_p99_ms", "probe_p99_ms", "flood_lines_written", "flood_lines_delivered"],
            "conn-storm": ["connections", "registered", "throttled", "timed_out", "control_during_ms"],
            "garbage": ["bytes_written", "send_s", "reply_lines", "control_ms"],
            "half-register": ["clients", "closed_by_server", "still_open", "close_max_s", "control_ms"],
        }[scenario]
        figures = ", ".join(f"{k} {fmt(r['metrics'].get(k))}" for k in keys)
        abuse.append(f"| {scenario} | {r['verdict']} | {figures} |")
    if abuse:
        out.append("")
        out.append("Abuse scenarios against charla with its default limits (bench/peers/charla-defaults.toml):")
        out.append("")
        out.append("| scenario | verdict | figures |")
        out.append("|---|---|---|")
        out.extend(abuse)

    # The issue's targets (plain TCP).
    def m(label, scenario, key):
        return figure(run, label, scenario, key)

    targets = []
    c_eff = m(charla, "fanout", "deliveries_per_cpu_s")
    peer_eff = [m(p, "fanout", "deliveries_per_cpu_s") for p in peers]
    peer_eff = [x for x in peer_eff if x]
    if c_eff and peer_eff:
        best = max(peer_eff)
        n = len(rounds(run, charla, "fanout"))
        how = f", medians of {n} rounds" if n > 1 else ""
        targets.append(("fan-out deliveries per server-CPU-second ≥ 2× the better peer",
                        f"{c_eff / best:.2f}× ({fmt(c_eff)} vs {fmt(best)}{how})", c_eff >= 2 * best))
    rate = m(charla, "fanout-4m", "delivered_per_s")
    p99 = m(charla, "fanout-4m", "p99_ms")
    # The rate the issue states as "4 million deliveries per second" is offered as 8,000 msg/s
    # to 499 readers (3,992,000/s): met when that is offered, delivered (99% of it over the
    # window, nothing lost) and p99 stays under 20 ms.
    offered = m(charla, "fanout-4m", "target_deliveries_per_s") or 0
    loss = m(charla, "fanout-4m", "loss_pct")
    if rate is not None and p99 is not None:
        met = (p99 < 20 and offered >= 3.99e6 and rate >= 0.99 * offered and loss == 0)
        targets.append(("fan-out p99 < 20 ms at 4,000,000 deliveries/s (8,000 msg/s to 499)",
                        f"p99 {fmt(p99)} ms at {fmt(rate)} deliveries/s (offered {fmt(offered)})",
                        met))
    rss = m(charla, "connect", "rss_per_client_bytes")
    if rss is not None:
        targets.append(("≤ 2 KiB RSS per idle registered client", f"{fmt(rss)} B", rss <= 2048))
    regs = m(charla, "connect", "registrations_per_s")
    if regs is not None:
        targets.append(("≥ 20,000 registrations per second", fmt(regs), regs >= 20000))
    held = m(charla, "connect", "held")
    if held is not None:
        targets.append(("15,000 concurrent clients held", fmt(held), held >= 15000))
    held_tls = m(charla, "connect-tls", "held")
    if held_tls is not None:
        rss_tls = m(charla, "connect-tls", "rss_per_client_bytes")
        targets.append(("15,000 concurrent clients held over TLS (RSS per client reported)",
                        f"{fmt(held_tls)} ({fmt(rss_tls)} B per client)", held_tls >= 15000))
    storm_p99 = m(charla, "join-storm", "probe_p99_ms")
    storm_runs = rounds(run, charla, "join-storm")

    def by_run(key):
        """", median of N runs (a, b, c)" when the storm ran more than once."""
        if len(storm_runs) < 2:
            return ""
        each = ", ".join(fmt(r["metrics"].get(key)) for r in storm_runs)
        return f", median of {len(storm_runs)} runs ({each})"

    if storm_p99 is not None:
        lost = m(charla, "join-storm", "probe_lost") or 0
        targets.append(("a control pair's p99 < 20 ms during a join storm (`join-storm`)",
                        f"p99 {fmt(storm_p99)} ms{by_run('probe_p99_ms')} "
                        f"(baseline {fmt(m(charla, 'join-storm', 'baseline_p99_ms'))} ms), "
                        f"{fmt(m(charla, 'join-storm', 'joiners'))} joining "
                        f"{fmt(m(charla, 'join-storm', 'members'))} members",
                        storm_p99 < 20 and lost == 0))
    for verb in ["nick", "part", "quit"]:
        p99 = m(charla, "join-storm", f"{verb}_probe_p99_ms")
        if p99 is not None:
            lost = m(charla, "join-storm", f"{verb}_probe_lost") or 0
            targets.append((f"a control pair's p99 < 20 ms while the joiners all {verb.upper()} "
                            "(`join-storm`)", f"p99 {fmt(p99)} ms{by_run(f'{verb}_probe_p99_ms')}",
                            p99 < 20 and lost == 0))
    history_table(run, charla, out, targets)
    if targets:
        out.append("")
        out.append("Targets (plain TCP):")
        out.append("")
        out.append("| target | measured | met |")
        out.append("|---|---|---|")
        for name, measured, ok in targets:
            out.append(f"| {name} | {measured} | {'yes' if ok else 'no'} |")
    later = issue16_targets(run, charla, peers)
    if later:
        out.append("")
        out.append("Targets of issue 16 (latency at every rate, TLS, a huge channel, idle cost):")
        out.append("")
        out.append("| target | measured | met |")
        out.append("|---|---|---|")
        for name, measured, ok in later:
            out.append(f"| {name} | {measured} | {'yes' if ok else 'no'} |")
    print("\n".join(out))


def issue16_targets(run, charla, peers):
    """Issue 16's targets, from the same run: (target, measured, met)."""

    def m(label, scenario, key):
        return figure(run, label, scenario, key)

    targets = []
    for scenario in ["fanout-low", "fanout", "fanout-4m"]:
        rate = m(charla, scenario, "target_rate")
        if rate is None:
            continue
        for key in ["p50_ms", "p99_ms"]:
            c = m(charla, scenario, key)
            theirs = [(m(p, scenario, key), p) for p in peers]
            theirs = [(v, p) for v, p in theirs if v is not None]
            if c is None or not theirs:
                continue
            best, who = min(theirs)
            targets.append((f"{key[:3]} at {fmt(rate)} msg/s at or below the better peer's",
                            f"{fmt(c)} ms against {fmt(best)} ({who})", c <= best))
        if scenario != "fanout-low":
            c = m(charla, scenario, "deliveries_per_cpu_s")
            theirs = [(m(p, scenario, "deliveries_per_cpu_s"), p) for p in peers]
            theirs = [(v, p) for v, p in theirs if v]
            if c and theirs:
                best, who = max(theirs)
                targets.append((f"deliveries per CPU-second at {fmt(rate)} msg/s ≥ 2.5× the better peer's",
                                f"{c / best:.2f}× ({fmt(c)} against {fmt(best)}, {who})",
                                c >= 2.5 * best))
    p99 = m(charla, "fanout-4m", "p99_ms")
    offered = m(charla, "fanout-4m", "target_deliveries_per_s") or 0
    if p99 is not None:
        targets.append(("p99 < 15 ms at 4,000,000 deliveries/s",
                        f"{fmt(p99)} ms (offered {fmt(offered)}/s)",
                        p99 < 15 and offered >= 3.99e6 and m(charla, "fanout-4m", "loss_pct") == 0))
    rss = m(charla, "connect-tls", "rss_per_client_bytes")
    if rss is not None:
        targets.append(("≤ 4 KiB RSS per idle TLS client", f"{fmt(rss)} B", rss <= 4096))
        regs = m(charla, "connect-tls", "registrations_per_s")
        targets.append(("≥ 10,000 TLS registrations/s", fmt(regs), regs is not None and regs >= 10000))
        held = m(charla, "connect-tls", "held")
        targets.append(("19,000 TLS clients held", fmt(held), held is not None and held >= 19000))
    p99 = m(charla, "huge", "p99_ms")
    members = m(charla, "huge", "members")
    if members is not None:
        lost = m(charla, "huge", "lost")
        expected = m(charla, "huge", "expected")
        targets.append(("a channel of 15,000 members, 20 senders at 100 msg/s: no loss, p99 < 50 ms",
                        f"{fmt(members)} members, {fmt(lost)} of {fmt(expected)} lost, p99 {fmt(p99)} ms",
                        members >= 15000 and lost == 0 and expected and p99 is not None and p99 < 50))
    idle = m(charla, "connect", "idle_cpu_pct")
    held = m(charla, "connect", "held")
    if idle is not None:
        targets.append(("15,000 idle clients: server CPU < 2 % of a core",
                        f"{fmt(idle)} % with {fmt(held)} clients", idle < 2 and (held or 0) >= 15000))
    return targets


# History on / off (charla only; the peers keep no history): (scenario, metric, better).
HISTORY_ROWS = [
    ("durable", "durable_msgs_per_s", "high"),
    ("durable", "peak_msgs_per_s", "high"),
    ("durable", "p50_ms", "low"),
    ("durable", "p99_ms", "low"),
    ("durable", "server_cpu_util", ""),
    ("durable", "deliveries_per_cpu_s", "high"),
    ("durable", "db_mib_per_million_msgs", ""),
    ("fanout", "deliveries_per_cpu_s", "high"),
    ("fanout", "p50_ms", "low"),
    ("fanout", "p99_ms", "low"),
    ("fanout-4m", "delivered_per_s", "high"),
    ("fanout-4m", "send_rate", "high"),
    ("fanout-4m", "p99_ms", "low"),
    ("fanout-4m", "deliveries_per_cpu_s", "high"),
]


def history_table(run, charla, out, targets):
    """charla with history on (label `charla`) beside history off (`charla-nohistory`):
    durable messages, fan-out, and CHATHISTORY at a rate; adds the history targets."""
    off = f"{charla}-nohistory"

    def m(label, scenario, key):
        return figure(run, label, scenario, key)

    rows = []
    for scenario, metric, better in HISTORY_ROWS:
        on_v, off_v = m(charla, scenario, metric), m(off, scenario, metric)
        if on_v is None and off_v is None:
            continue
        ratio = f"{on_v / off_v:.2f}×" if on_v is not None and off_v else "–"
        arrow = {"high": " ↑", "low": " ↓"}.get(better, "")
        rows.append(f"| {scenario} | {metric}{arrow} | {fmt(on_v)} | {fmt(off_v)} | {ratio} |")
    for metric in ["requests_per_s", "lines_per_request", "p50_ms", "p99_ms", "max_ms",
                   "server_cpu_ms_per_request"]:
        v = m(charla, "history-rate", metric)
        if v is not None:
            rows.append(f"| history-rate | {metric} | {fmt(v)} | – | – |")
    if not rows:
        return
    out.append("")
    out.append(f"History on ({charla}, bench/peers/charla.toml) and off ({off}, the same with "
               "`[history] enabled = false`); fan-out figures are medians of the rounds:")
    out.append("")
    out.append("| scenario | figure | history on | history off | on/off |")
    out.append("|---|---|---:|---:|---:|")
    out.extend(rows)
    on_rounds, off_rounds = rounds(run, charla, "fanout"), rounds(run, off, "fanout")
    if len(on_rounds) > 1 and len(off_rounds) == len(on_rounds):
        cells = []
        for a, b in zip(on_rounds, off_rounds):
            x, y = a["metrics"].get("deliveries_per_cpu_s"), b["metrics"].get("deliveries_per_cpu_s")
            cells.append(f"{x / y:.2f}×" if x and y else "–")
        out.append("")
        out.append("fan-out deliveries per server-CPU-second, history on / off, by round: "
                   + ", ".join(cells) + ".")

    durable = m(charla, "durable", "durable_msgs_per_s")
    if durable is not None:
        targets.append(("≥ 50,000 durable messages/s (history on, `durable`, p99 ≤ 100 ms)",
                        f"{fmt(durable)} msg/s (peak {fmt(m(charla, 'durable', 'peak_msgs_per_s'))})",
                        durable >= 50000))
    p99 = m(charla, "history-rate", "p99_ms")
    rate = m(charla, "history-rate", "requests_per_s")
    failed = m(charla, "history-rate", "requests_failed")
    if p99 is not None and rate is not None:
        targets.append(("CHATHISTORY LATEST * 100 p99 < 10 ms at 1,000 requests/s",
                        f"p99 {fmt(p99)} ms at {fmt(rate)} requests/s",
                        p99 < 10 and rate >= 990 and not failed))
    on_eff, off_eff = m(charla, "fanout", "deliveries_per_cpu_s"), m(off, "fanout", "deliveries_per_cpu_s")
    if on_eff and off_eff:
        targets.append(("fan-out deliveries per server-CPU-second, history on ≥ 85 % of off",
                        f"{100 * on_eff / off_eff:.0f} % ({fmt(on_eff)} vs {fmt(off_eff)})",
                        on_eff >= 0.85 * off_eff))


if __name__ == "__main__":
    main()
