#!/usr/bin/env bash
# Instructions per interrupt on the receiving thread, counted by callgrind:
# repeatable where timings are not. Runs irqbridge-profile (one throughput
# run of one receiver) under `valgrind --tool=callgrind --separate-threads=yes`
# for two interrupt counts, takes the instruction total of the thread that
# called the probe (cbl_probe_hit) in each, and prints
#   instructions per interrupt = (total at N2 - total at N1) / (N2 - N1)
# so start-up and shut-down cancel, for the bridge and the C waiter and their ratio.
#
# usage: scripts/bench/callgrind.sh [--counts N1,N2] [--vectors V1,V2,...] [--repeat N] [--timings] [--walk] [--cache-sim] [--keep DIR]
#   defaults: --counts 20000,40000 --vectors 1,64 --repeat 1 (--walk: --vectors 1,16384)
#   --repeat N: measure each side N times and take the median per interrupt (with many
#     vectors, how valgrind interleaves the writer and the receiver sets how many
#     interrupts one wake-up serves, which moves both sides by a few percent per run)
#   --timings: also the bridge with DispatchOptions.recordsTimings on ("bridge-timed")
#   --walk: the scale group's cost instead of throughput: one interrupt at a time, each on
#     the next vector of a walk over all of them (spread over devices of 64), and each
#     vector count's figure against the first's ("16384 vs 1"): the bridge's own work per
#     interrupt as the connected set grows, apart from the kernel's cold-vector cost
#   --cache-sim: also first-level data cache misses per interrupt (reads, writes), from
#     callgrind's cache simulator, on the receiving thread in user space
# Installs valgrind (apt-get) when it is missing.
# Exit status: 0 with the table printed, 2 on bad input or a missing tool, 1 when a run failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

counts=20000,40000
vectors=1,64
repeat=1
keep=
sides="bridge baseline"
walk=
cache_sim=
vectors_given=
usage() { sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --counts) counts=${2:?--counts needs N1,N2}; shift 2 ;;
        --vectors) vectors=${2:?--vectors needs a list}; vectors_given=1; shift 2 ;;
        --keep) keep=${2:?--keep needs a directory}; shift 2 ;;
        --repeat) repeat=${2:?--repeat needs a count}; shift 2 ;;
        --timings) sides="bridge bridge-timed baseline"; shift ;;
        --walk) walk=--walk; shift ;;
        --cache-sim) cache_sim=--cache-sim=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "callgrind.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ -n $walk && -z $vectors_given ]]; then vectors=1,16384; fi
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

# receiver_totals SIDE COUNT VECTORS [RUN]: the receiving thread's instruction total,
# then (with --cache-sim) its D1 read and write misses.
receiver_totals() {
    local side=$1 count=$2 nvectors=$3 run=$4
    local dir=$work/$side-$nvectors-$count${run:+-run$run}
    mkdir -p "$dir"
    if ! valgrind --tool=callgrind --separate-threads=yes $cache_sim --callgrind-out-file="$dir/callgrind.out" \
        "$work/irqbridge-profile" $walk "$side" "$count" "$nvectors" >"$dir/log" 2>&1; then
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
    # "events: Ir Dr Dw I1mr D1mr ..." names the columns of "summary:"/"totals:".
    awk -v misses="${cache_sim:+1}" '
        /^events:/ { for (i = 2; i <= NF; i++) column[$i] = i }
        /^(summary|totals):/ {
            line = $(column["Ir"])
            if (misses) line = line " " $(column["D1mr"]) " " $(column["D1mw"])
            print line; exit
        }' "${receivers[0]}"
}

# per_interrupt A B: (B - A) / (high - low), to the given number of decimals.
per_interrupt_of() { awk -v a="$1" -v b="$2" -v n=$((high - low)) -v d="$3" 'BEGIN { printf "%.*f", d, (b - a) / n }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

header=$(printf '%-8s  %-12s  %14s  %14s  %16s' vectors side "Ir@$low" "Ir@$high" "Ir/interrupt")
[[ -n $cache_sim ]] && header+=$(printf '  %12s  %12s' "D1mr/intr" "D1mw/intr")
if [[ -n $walk ]]; then echo "one interrupt at a time, walking every vector (devices of 64)"; else echo "throughput: every vector kept busy"; fi
echo "$header"
declare -A per_interrupt first
first_vectors=
for nvectors in ${vectors//,/ }; do
    first_vectors=${first_vectors:-$nvectors}
    for side in $sides; do
        runs=() reads=() writes=()
        for ((run = 1; run <= repeat; run++)); do
            tag=$( ((repeat > 1)) && echo "$run" || true)
            read -r a a_reads a_writes < <(receiver_totals "$side" "$low" "$nvectors" "$tag") && [[ -n ${a:-} ]] || exit 1
            read -r b b_reads b_writes < <(receiver_totals "$side" "$high" "$nvectors" "$tag") && [[ -n ${b:-} ]] || exit 1
            figure=$(per_interrupt_of "$a" "$b" 0)
            runs+=("$figure")
            label=$side
            ((repeat > 1)) && label="$side #$run"
            line=$(printf '%-8s  %-12s  %14s  %14s  %16s' "$nvectors" "$label" "$a" "$b" "$figure")
            if [[ -n $cache_sim ]]; then
                reads+=("$(per_interrupt_of "$a_reads" "$b_reads" 2)") writes+=("$(per_interrupt_of "$a_writes" "$b_writes" 2)")
                line+=$(printf '  %12s  %12s' "${reads[-1]}" "${writes[-1]}")
            fi
            echo "$line"
        done
        per_interrupt[$side]=$(median "${runs[@]}")
        if ((repeat > 1)); then
            line=$(printf '%-8s  %-12s  %14s  %14s  %16s' "$nvectors" "$side" "" "median" "${per_interrupt[$side]}")
            [[ -n $cache_sim ]] && line+=$(printf '  %12s  %12s' "$(median "${reads[@]}")" "$(median "${writes[@]}")")
            echo "$line"
        fi
        [[ $nvectors == "$first_vectors" ]] && first[$side]=${per_interrupt[$side]}
    done
    awk -v v="$nvectors" -v x="${per_interrupt[bridge]}" -v y="${per_interrupt[baseline]}" \
        'BEGIN { printf "%-8s  bridge / C waiter: %.2fx\n", v, x / y }'
    if [[ -n ${per_interrupt[bridge-timed]:-} ]]; then
        awk -v v="$nvectors" -v x="${per_interrupt[bridge-timed]}" -v y="${per_interrupt[bridge]}" \
            'BEGIN { printf "%-8s  timings recorded: %+d instructions per interrupt\n", v, x - y }'
    fi
    if [[ -n $walk && $nvectors != "$first_vectors" ]]; then
        awk -v v="$nvectors" -v f="$first_vectors" -v x="${per_interrupt[bridge]}" -v x1="${first[bridge]}" \
            -v y="${per_interrupt[baseline]}" -v y1="${first[baseline]}" \
            'BEGIN { printf "%-8s  %s vs %s vectors: bridge %.2fx, C waiter %.2fx\n", v, v, f, x / x1, y / y1 }'
    fi
done
