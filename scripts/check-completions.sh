#!/usr/bin/env bash
# Checks that irqbridge's shell completion scripts (argument-parser's
# --generate-completion-script) generate for bash, zsh and fish and know every
# subcommand and the bring-up options (--profile completes YAML/JSON files).
# usage: scripts/check-completions.sh [IRQBRIDGE]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
irqbridge=${1:-$(swift build --show-bin-path)/irqbridge}
[[ -x $irqbridge ]] || { echo "check-completions: $irqbridge is missing (build first)" >&2; exit 2; }
failed=0
for shell in bash zsh fish; do
    script=$("$irqbridge" --generate-completion-script "$shell") || { echo "FAIL $shell: no script"; failed=1; continue; }
    # Options appear as "--profile" (bash, zsh) or "'profile=" (fish).
    for word in list bind unbind selftest wait trigger bench profile timeout vector loopback; do
        grep -q -- "$word" <<<"$script" || { echo "FAIL $shell: '$word' missing"; failed=1; }
    done
    grep -q "yaml" <<<"$script" || { echo "FAIL $shell: --profile does not complete .yaml files"; failed=1; }
    ((failed)) || echo "ok $shell"
done
exit $failed
