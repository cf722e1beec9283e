#!/usr/bin/env python3
"""Check that `irqbridge list --json` agrees with `lspci -vvv` for every PCI function.

Compared per function: the routed IRQ line, MSI presence and message counts
(capable and enabled), MSI-X presence and table size, every BAR's size (and
address), and for live listings the bound driver, the IOMMU group and the
device nodes (/dev/vfio/<group> exactly when bound to vfio-pci, /dev/uioN
exactly when bound to a UIO driver). Exits 0 when they agree, 1 on any disagreement (each printed on
one line), 2 when a tool cannot be run.

  scripts/check-list-against-lspci.py                      # live system (run as root)
  scripts/check-list-against-lspci.py --irqbridge PATH     # a given irqbridge binary
  scripts/check-list-against-lspci.py --dump D --lspci-output F
        # offline: irqbridge reads dump D, compared with saved `lspci -vvv` output F
        # (dumps carry no BAR sizes, so sizes are compared only where irqbridge knows them)
  scripts/check-list-against-lspci.py --json-output J --lspci-output F
        # both saved from one live system (e.g. inside the QEMU rig guest)
Python 3 standard library only.
"""
import argparse
import json
import os
import re
import subprocess
import sys

SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
DEVICE_LINE = re.compile(r"^(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) ")
REGION = re.compile(r"^\s*Region (\d+): (?:Memory|I/O ports) at (<unassigned>|<ignored>|[0-9a-f]+)(.*)$")
SIZE = re.compile(r"\[size=(\d+)([KMGT]?)\]")
INTERRUPT = re.compile(r"^\s*Interrupt: pin (\S) routed to IRQ (\d+)")
MSI = re.compile(r"^\s*Capabilities: \[[0-9a-f]+\] MSI: Enable[+-] Count=(\d+)/(\d+)")
# A driver's name may hold a space (i6300esb registers as "i6300ESB timer").
DRIVER = re.compile(r"^\s*Kernel driver in use: (.*\S)")
IOMMU_GROUP = re.compile(r"^\s*IOMMU group: (\d+)")
MSIX = re.compile(r"^\s*Capabilities: \[[0-9a-f]+\] MSI-X: Enable[+-] Count=(\d+)")


def parse_lspci(text):
    """Functions from `lspci -vvv [-D]` output: address -> facts."""
    devices = {}
    current = None
    for line in text.splitlines():
        match = DEVICE_LINE.match(line)
        if match:
            domain, bus, device, function = match.groups()
            address = "%s:%s:%s.%s" % ((domain or "0000").rjust(4, "0"), bus, device, function)
            current = devices[address] = {"irq": None, "msi": None, "msix": None, "bars": {}, "denied": False,
                                          "driver": None, "iommuGroup": None}
            continue
        if current is None:
            continue
        if "<access denied>" in line:
            current["denied"] = True
        match = INTERRUPT.match(line)
        if match:
            current["irq"] = int(match.group(2))
        match = MSI.match(line)
        if match:
            current["msi"] = {"enabledCount": int(match.group(1)), "count": int(match.group(2))}
        match = DRIVER.match(line)
        if match:
            current["driver"] = match.group(1)
        match = IOMMU_GROUP.match(line)
        if match:
            current["iommuGroup"] = int(match.group(1))
        match = MSIX.match(line)
        if match:
            current["msix"] = {"tableSize": int(match.group(1))}
        match = REGION.match(line)
        if match:
            index, where, rest = int(match.group(1)), match.group(2), match.group(3)
            size = SIZE.search(rest)
            current["bars"][index] = {
                "address": int(where, 16) if where[0] != "<" else None,
                "size": int(size.group(1)) * SIZE_UNITS[size.group(2)] if size else None,
            }
    return devices


def compare(ours, theirs):
    """Disagreements, one line each."""
    problems = []
    for address in sorted(set(ours) | set(theirs)):
        if address not in ours:
            problems.append("%s: lspci lists it, irqbridge does not" % address)
            continue
        if address not in theirs:
            problems.append("%s: irqbridge lists it, lspci does not" % address)
            continue
        mine, lspci = ours[address], theirs[address]
        if lspci["denied"]:
            problems.append("%s: lspci could not read config space (run as root)" % address)
            continue
        # A dump knows no drivers or IOMMU groups; a live listing must match lspci's.
        for key, label in (("driver", "driver"), ("iommuGroup", "IOMMU group")):
            if not OFFLINE and mine.get(key) != lspci[key]:
                problems.append("%s: %s %s, lspci says %s" % (address, label, mine.get(key), lspci[key]))
        if not OFFLINE:
            problems += check_nodes(address, mine)
        if mine["irq"] != lspci["irq"]:
            problems.append("%s: IRQ %s, lspci says %s" % (address, mine["irq"], lspci["irq"]))
        for key, fields in (("msi", ("count", "enabledCount")), ("msix", ("tableSize",))):
            if (mine[key] is None) != (lspci[key] is None):
                problems.append("%s: %s %s, lspci says %s" % (address, key.upper(), "present" if mine[key] else "absent",
                                                              "present" if lspci[key] else "absent"))
                continue
            for field in fields if mine[key] else ():
                if mine[key][field] != lspci[key][field]:
                    problems.append("%s: %s %s %s, lspci says %s" % (address, key.upper(), field, mine[key][field], lspci[key][field]))
        bars = {bar["index"]: bar for bar in mine["bars"]}
        for index, region in sorted(lspci["bars"].items()):
            bar = bars.get(index)
            if region["address"] is None and not region["size"]:
                continue  # an unassigned register (or the upper half of a 64-bit BAR in a dump)
            if bar is None:
                problems.append("%s: BAR %d missing, lspci shows region %d" % (address, index, index))
                continue
            if region["size"] is not None and bar["size"] and bar["size"] != region["size"]:
                problems.append("%s: BAR %d size %d, lspci says %d" % (address, index, bar["size"], region["size"]))
            if region["size"] is not None and not bar["size"] and not OFFLINE:
                problems.append("%s: BAR %d size unknown, lspci says %d" % (address, index, region["size"]))
            if region["address"] is not None and int(bar["address"], 16) != region["address"]:
                problems.append("%s: BAR %d at %s, lspci says 0x%x" % (address, index, bar["address"], region["address"]))
        for index, bar in sorted(bars.items()):
            if index not in lspci["bars"] and bar["size"]:
                problems.append("%s: BAR %d (size %d) not shown by lspci" % (address, index, bar["size"]))
    return problems


def check_nodes(address, mine):
    """Device nodes must follow the driver: /dev/vfio/<group> for vfio-pci, /dev/uioN for UIO."""
    nodes, driver = mine.get("nodes") or {}, mine.get("driver") or ""
    expected_vfio = "/dev/vfio/%s" % mine.get("iommuGroup") if driver == "vfio-pci" else None
    problems = []
    if nodes.get("vfioGroup") != expected_vfio:
        problems.append("%s: VFIO node %s, expected %s (driver %s)" % (address, nodes.get("vfioGroup"), expected_vfio, driver or "none"))
    uio = nodes.get("uio")
    if driver.startswith("uio") != bool(uio and re.fullmatch(r"/dev/uio\d+", uio)):
        problems.append("%s: UIO node %s with driver %s" % (address, uio, driver or "none"))
    return problems


def run(command):
    try:
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        stderr = getattr(error, "stderr", "") or ""
        sys.exit("check-list-against-lspci: %s failed: %s %s" % (" ".join(command), error, stderr.strip()))


OFFLINE = False


def main():
    global OFFLINE
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--irqbridge", default=os.environ.get("IRQBRIDGE", os.path.join(root, ".build", "debug", "irqbridge")))
    parser.add_argument("--dump", help="have irqbridge read this lspci -x dump instead of the live system")
    parser.add_argument("--lspci-output", help="saved `lspci -vvv` output to compare with instead of running lspci")
    parser.add_argument("--json-output", help="saved `irqbridge list --json` output (of a live system) instead of running irqbridge")
    arguments = parser.parse_args()
    if arguments.dump and arguments.json_output:
        parser.error("--dump and --json-output exclude each other")
    OFFLINE = arguments.dump is not None

    if arguments.json_output:
        with open(arguments.json_output) as file:
            listed = json.load(file)
    else:
        command = [arguments.irqbridge, "list", "--json"] + (["--dump", arguments.dump] if arguments.dump else [])
        listed = json.loads(run(command))
    ours = {device["address"]: device for device in listed}
    if arguments.lspci_output:
        with open(arguments.lspci_output) as file:
            text = file.read()
    else:
        text = run(["lspci", "-vvv", "-D"])
    theirs = parse_lspci(text)

    problems = compare(ours, theirs)
    for problem in problems:
        print(problem)
    print("check-list-against-lspci: %d functions, %d disagreement(s)" % (len(set(ours) | set(theirs)), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
