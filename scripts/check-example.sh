#!/usr/bin/env bash
# CI's check of the user story (issue 14): from a fresh clone of this repository, a scratch copy
# of Examples/EduDriver OUTSIDE it, set up exactly as Examples/EduDriver/README.md says (depend on
# the clone by path, run the `rig` plugin), gets its rig tests passing: edu's MSI and INTx through
# the ported ISR, and an unnamed QEMU device (rtl8139) connected and counted.
# Prints each step's wall time; exits with the plugin's status (0: every test passed).
#
# usage: scripts/check-example.sh [--keep]   (--keep leaves the scratch directory for inspection)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEP=0
case ${1:-} in
    --keep) KEEP=1 ;;
    "") ;;
    *) echo "check-example: unknown option $1" >&2; exit 2 ;;
esac
scratch=$(mktemp -d /tmp/irqbridge-example.XXXXXX)
# shellcheck disable=SC2317 # invoked through the EXIT trap
cleanup() { if ((KEEP)); then echo "check-example: kept $scratch" >&2; else rm -rf "$scratch"; fi; }
trap cleanup EXIT
step_start=$(date +%s)
timed() { echo "check-example: $1 took $(( $(date +%s) - step_start )) s" >&2; step_start=$(date +%s); }

# A fresh clone of what is committed here (the checked-out commit, not the working tree).
git clone --quiet --no-checkout "$REPO" "$scratch/InterruptBridge"
git -C "$scratch/InterruptBridge" checkout --quiet "$(git -C "$REPO" rev-parse HEAD)"
timed "clone"

# README step 1: copy the example beside the clone and point its dependency at the clone.
cp -r "$scratch/InterruptBridge/Examples/EduDriver" "$scratch/EduDriver"
sed -i 's|\.package(name: "InterruptBridge", path: "\.\./\.\.")|.package(name: "InterruptBridge", path: "../InterruptBridge")|' \
    "$scratch/EduDriver/Package.swift"
grep -q 'path: "../InterruptBridge"' "$scratch/EduDriver/Package.swift" ||
    { echo "check-example: the example's Package.swift no longer has the dependency line the README describes" >&2; exit 1; }

# README step 2: the host-side tests (the rig tests skip with the reason).
cd "$scratch/EduDriver"
swift build --build-tests 2>&1 | tail -n 3
timed "first build (InterruptBridge compiled again for the example)"
swift test --skip-build 2>&1 | tail -n 8
timed "host-side swift test"

# README step 3: the same tests inside the rig.
status=0
swift package --disable-sandbox rig --devices edu --qemu-device rtl8139 --timeout 900 --timing -- test || status=$?
timed "rig run (build check, boot, tests, power-off)"
echo "check-example: exit status $status" >&2
exit "$status"
