#!/usr/bin/env bash
# Instructions per interrupt on the receiving thread, counted by callgrind:
# repeatable where timings are not. Runs irqbridge-profile (one throughput
# run of one receiver) under `valgrind --tool=callgrind --separate-threads=yes`
# for two interrupt counts, takes the instruction total of the thread that
# called the probe (cbl_probe_hit) in each, and prints
#   instructions per interrupt = (total at N2 - total at N1) / (N2 - N1)
# so start-up and shut-down cancel, for the bridge and the C waiter and their ratio.
#
# usage: scripts/bench/callgrind.sh [--counts N1,N2] [--vectors V1,V2,...] [--repeat N] [--timings] [--keep DIR]
#   defaults: --counts 20000,40000 --vectors 1,64 --repeat 1
#   --repeat N: measure each side N times and take the median per interrupt (with many
#     vectors, how valgrind interleaves the writer and the receiver sets how many
#     interrupts one wake-up serves, which moves both sides by a few percent per run)
#   --timings: also the bridge with DispatchOptions.recordsTimings on ("bridge-timed")
# Installs valgrind (apt-get) when it is missing.
# Exit status: 0 with the table printed, 2 on bad input or a missing tool, 1 when a run failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

counts=20000,40000
vectors=1,64
repeat=1
keep=
sides="bridge baseline"
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --counts) counts=${2:?--counts needs N1,N2}; shift 2 ;;
        --vectors) vectors=${2:?--vectors needs a list}; shift 2 ;;
        --keep) keep=${2:?--keep needs a directory}; shift 2 ;;
        --repeat) repeat=${2:?--repeat needs a count}; shift 2 ;;
        --timings) sides="bridge bridge-timed baseline"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "callgrind.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ ! $counts =~ ^[0-9]+,[0-9]+$ ]]; then echo "callgrind.sh: --counts wants N1,N2, not '$counts'" >&2; exit 2; fi
low=${counts%,*} high=${counts#*,}
if ((low < 2 || high <= low)); then echo "callgrind.sh: --counts wants 2 <= N1 < N2, not '$counts'" >&2; exit 2; fi
if [[ ! $repeat =~ ^[1-9][0-9]?$ ]]; then echo "callgrind.sh: --repeat wants 1..99, not '$repeat'" >&2; exit 2; fi
if [[ ! $vectors =~ ^[0-9]+(,[0-9]+)*$ ]]; then echo "callgrind.sh: --vectors wants a list like 1,64, not '$vectors'" >&2; exit 2; fi
if ! command -v valgrind >/dev/null; then
    echo "callgrind.sh: installing valgrind" >&2
    sudo_if_needed=()
    ((EUID == 0)) || sudo_if_needed=(sudo)
    "${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind >&2 \
        || { echo "callgrind.sh: valgrind is missing and could not be installed (apt-get install -y valgrind)" >&2; exit 2; }
fi

if [[ -n $keep ]]; then
    mkdir -p "$keep"
    work=$(cd "$keep" && pwd)
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi

swift build -c release --product irqbridge-profile >&2
# Valgrind 3.19 gives up on the DWARF the Swift toolchain emits for the release
# binary (it then reads no symbols at all); without it, the symbol table is
# enough to find cbl_probe_hit.
cp "$(swift build -c release --show-bin-path)/irqbridge-profile" "$work/irqbridge-profile"
strip --strip-debug "$work/irqbridge-profile"

# receiver_instructions SIDE COUNT VECTORS: the receiving thread's instruction total.
receiver_instructions() {
    local side=$1 count=$2 nvectors=$3 run=$4
    local dir=$work/$side-$nvectors-$count${run:+-run$run}
    mkdir -p "$dir"
    if ! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/callgrind.out" \
        "$work/irqbridge-profile" "$side" "$count" "$nvectors" >"$dir/log" 2>&1; then
        echo "callgrind.sh: $side with $count interrupts on $nvectors vector(s) failed:" >&2
        tail -5 "$dir/log" >&2
        return 1
    fi
    local receivers=() file
    for file in "$dir"/callgrind.out-*; do
        # Callgrind names a function in full once per file, then by its number.
        if grep -qE '^c?fn=\([0-9]+\) cbl_probe_hit$' "$file"; then receivers+=("$file"); fi
    done
    if ((${#receivers[@]} != 1)); then
        echo "callgrind.sh: expected one thread calling cbl_probe_hit in $dir, found ${#receivers[@]}" >&2
        return 1
    fi
    awk '/^(summary|totals):/ { print $2; exit }' "${receivers[0]}"
}

printf '%-8s  %-12s  %14s  %14s  %16s\n' vectors side "Ir@$low" "Ir@$high" "Ir/interrupt"
declare -A per_interrupt
for nvectors in ${vectors//,/ }; do
    for side in $sides; do
        runs=()
        for ((run = 1; run <= repeat; run++)); do
            tag=$( ((repeat > 1)) && echo "$run" || true)
            a=$(receiver_instructions "$side" "$low" "$nvectors" "$tag") || exit 1
            b=$(receiver_instructions "$side" "$high" "$nvectors" "$tag") || exit 1
            figure=$(awk -v a="$a" -v b="$b" -v n=$((high - low)) 'BEGIN { printf "%.0f", (b - a) / n }')
            runs+=("$figure")
            label=$side
            ((repeat > 1)) && label="$side #$run"
            printf '%-8s  %-12s  %14s  %14s  %16s\n' "$nvectors" "$label" "$a" "$b" "$figure"
        done
        per_interrupt[$side]=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
        ((repeat > 1)) && printf '%-8s  %-12s  %14s  %14s  %16s\n' "$nvectors" "$side" "" "median" "${per_interrupt[$side]}"
    done
    awk -v v="$nvectors" -v x="${per_interrupt[bridge]}" -v y="${per_interrupt[baseline]}" \
        'BEGIN { printf "%-8s  bridge / C waiter: %.2fx\n", v, x / y }'
    if [[ -n ${per_interrupt[bridge-timed]:-} ]]; then
        awk -v v="$nvectors" -v x="${per_interrupt[bridge-timed]}" -v y="${per_interrupt[bridge]}" \
            'BEGIN { printf "%-8s  timings recorded: %+d instructions per interrupt\n", v, x - y }'
    fi
done
