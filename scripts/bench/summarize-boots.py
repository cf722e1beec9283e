#!/usr/bin/env python3
"""Summarize `irqbridge bench --json` results of several rig boots.

One TCG boot of the rig moves ratios by up to ~9% on its own (the rig's A/A run,
raw C VFIO on both sides, shows it), so one boot cannot decide a 1.10x target.
This prints every boot's ratio for each row, the median bridge and baseline
figures over boots, the median ratio, and the target's verdict on that median.

usage: summarize-boots.py BOOT.json [BOOT.json ...] [--json OUT]
"""
import argparse
import json
import re
import statistics
import sys


def verdict(target, ratio):
    """Judge a 'ratio <= 1.1' / 'ratio >= 0.9' / 'ratio < 1' target on a ratio."""
    match = re.fullmatch(r"ratio\s*(<=|>=|<|>)\s*([0-9.]+)", target or "")
    if not match or ratio is None:
        return None
    op, bound = match.group(1), float(match.group(2))
    return {"<=": ratio <= bound, ">=": ratio >= bound, "<": ratio < bound, ">": ratio > bound}[op]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("boots", nargs="+", help="one `irqbridge bench --json` file per boot")
    parser.add_argument("--json", help="also write the summary as JSON to this file")
    args = parser.parse_args()

    rows = {}
    order = []
    for path in args.boots:
        try:
            with open(path) as handle:
                results = json.load(handle)["results"]
        except (OSError, ValueError, KeyError) as error:
            print(f"summarize-boots: {path}: {error}", file=sys.stderr)
            return 2
        for result in results:
            name = result["name"]
            if name not in rows:
                rows[name] = {"unit": result.get("unit"), "target": result.get("target"), "boots": []}
                order.append(name)
            rows[name]["boots"].append(result)

    summary = []
    print(f"{len(args.boots)} boots; verdicts are on the median ratio over boots")
    print(f"{'name':34} {'per-boot ratios':44} {'bridge':>10} {'baseline':>10} {'ratio':>7}  {'target':14} verdict")
    for name in order:
        row = rows[name]
        ratios = [r["ratio"] for r in row["boots"] if r.get("ratio") is not None]
        bridges = [r["bridge"] for r in row["boots"] if r.get("bridge") is not None]
        baselines = [r["baseline"] for r in row["boots"] if r.get("baseline") is not None]
        median_ratio = statistics.median(ratios) if ratios else None
        met = verdict(row["target"], median_ratio)
        within = sum(1 for r in ratios if verdict(row["target"], r)) if row["target"] else None
        entry = {
            "name": name, "unit": row["unit"], "boots": len(row["boots"]), "ratios": ratios,
            "bridge": statistics.median(bridges) if bridges else None,
            "baseline": statistics.median(baselines) if baselines else None,
            "ratio": median_ratio, "target": row["target"],
            "verdict": None if met is None else ("met" if met else "MISSED"),
            "bootsMeetingTarget": within,
        }
        summary.append(entry)
        per_boot = " ".join(f"{r:.2f}" for r in ratios)
        verdict_text = "-" if met is None else ("met" if met else "MISSED") + f" ({within}/{len(ratios)} boots)"
        print(f"{name:34} {per_boot:44} {entry['bridge'] or 0:>10.0f} {entry['baseline'] or 0:>10.0f} "
              f"{(median_ratio or 0):>6.2f}x  {row['target'] or '-':14} {verdict_text}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"boots": len(args.boots), "results": summary}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
