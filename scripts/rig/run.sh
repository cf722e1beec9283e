#!/usr/bin/env bash
# The InterruptBridge QEMU rig: runs a command inside Debian's own kernel under QEMU
# (TCG, q35 with an interrupt-remapping Intel IOMMU), with emulated PCI devices that
# raise real interrupts through real VFIO and UIO. See scripts/rig/README.md.
set -euo pipefail

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$RIG_DIR/../.." && pwd)
CACHE_DIR=${RIG_CACHE_DIR:-$REPO_DIR/.rig}

usage() {
    cat <<'EOF'
usage: scripts/rig/run.sh [options] [--] COMMAND [ARG...]

Boots Debian's kernel under QEMU with emulated PCI devices, runs COMMAND inside the
guest (as root, in a directory with the same path as the current one), streams its
stdout/stderr to the host's, and exits with COMMAND's exit status.

Options:
  --devices LIST      comma-separated device set (default: edu,ivshmem-doorbell:4)
                        edu                 QEMU edu (1234:11e8): INTx + 1 MSI; up to 4 times
                        edu@SLOT            an edu at 0000:00:SLOT.0 (hex); a slot = 3 mod 4 (0b,
                                            0f, 13, ...) shares 0000:00:03.0's INTx line (GSI 23)
                        edu@port            a hot-pluggable edu behind its own PCIe root port: the
                                            n-th (from 0) is QMP id edun at 0000:0(n+1):00.0, its
                                            port at 0000:00:(10+n).0; up to 8 with --qemu-hotplug's (see "Hot-plug")
                        ivshmem-doorbell[:N] MSI-X with N vectors (default 4), host server started
                        ivshmem-plain       shared memory only, no interrupts
                        e1000e              Intel 82574L: MSI-X with 5 vectors
                        nvme                NVMe controller with a 1 MiB drive
                        none                no extra device (q35 chipset only)
  --qemu-device SPEC  any QEMU -device string (e.g. 'rtl8139', 'pci-testdev', 'qemu-xhci', 'virtio-rng-pci,
                      id=rng'), repeatable; the rig pins each to the next free slot of 0c 0d 0e 18 19 1a
                      1b 1c 1d 1e (SPEC must not carry addr= or bus=) and names the n-th (from 0) qemun
                      in IRQBRIDGE_RIG_DEVICES, e.g. "qemu0=0000:00:0c.0" (and by its id= if it has one)
  --qemu-hotplug SPEC like --qemu-device, but hot-pluggable: behind a PCIe root port of its own, as
                      edu@port (bus 01, 02, ... after the edu@port ones); `rig-hotplug remove NAME`
                      in the guest pulls it, NAME being SPEC's id= (else plugN, N its place among
                      the --qemu-hotplug options, from 0). A disk it needs: --qemu-arg -blockdev (a
                      -drive is deleted with the device at its first removal, so it cannot come back)
  --qemu-arg ARG      one more QEMU argument, verbatim, after the rig's own; repeatable. For what a
                      device needs beside its -device string, e.g. a disk: --qemu-arg -drive
                      --qemu-arg if=none,id=d0,file=disk.img,format=raw --qemu-device nvme,drive=d0,serial=d0
                      (the machine, kernel, serial ports and QMP are the rig's: -machine, -M, -accel,
                      -kernel, -initrd, -append, -serial, -qmp, -monitor, -daemonize are refused)
  --qemu BINARY       the qemu-system-x86_64 to run (default: $RIG_QEMU, else the one on PATH): your
                      own build, with your own device model, given with --qemu-device
  --bind BDF=DRIVER   before COMMAND, bind the device to DRIVER (vfio-pci, uio_pci_generic);
                      repeatable; a failed bind is a rig failure (exit 125)
  --copy PATH         also copy PATH (file or directory) into the guest at the same path, with the
                      shared libraries of every ELF file in it; repeatable. COMMAND's own binary
                      (and the *.resources directories beside it) is copied automatically.
  --env NAME=VALUE    set an environment variable for COMMAND; repeatable. Always set:
                      IRQBRIDGE_RIG=1 and IRQBRIDGE_RIG_DEVICES (e.g. "edu=0000:00:03.0 ...")
  --timeout SECONDS   watchdog for the guest's run (default 600); on expiry the guest is killed
  --boot-timeout SECONDS
                      boot watchdog (default 180 s plus 1 s per 4 MiB of payload; 0: none): a guest
                      that has not loaded its modules and reached COMMAND by then is killed and booted
                      once more, from scratch (TCG boots can hang, rarely, before the kernel prints
                      anything; a --qmp-socket client then sees its QEMU go and a new one come); a
                      second hang is a rig failure. A retried run lasts up to one boot timeout longer.
  --qmp-socket PATH   put QEMU's QMP monitor socket at PATH (default: qmp.sock in the run's
                      socket directory), for host-side scripts (scripts/rig/qmp.py) during the run
  --memory MIB        guest memory (default: 1024, more when the payload is large)
  --smp N             guest CPUs (default 2)
  --append ARGS       extra kernel command-line arguments
  --kernel VERSION    kernel to boot (default: newest /boot/vmlinuz-*; modules from /lib/modules)
  --verbose           show the guest's kernel console on stderr
  --timing            report on stderr how long preparing the image and the guest run took
  --keep              keep the run directory (.rig/run-*) for inspection
  --print-map         print the device address map for --devices and exit
  -h, --help          this help

Guest PCI addresses (pinned, so tests can name them):
  0000:00:00.0 q35 host bridge      0000:00:1f.0 ICH9 LPC/ISA bridge
  0000:00:1f.2 ICH9 SATA (AHCI)     0000:00:1f.3 ICH9 SMBus
  0000:00:03.0 edu                  0000:00:04.0 second edu
  0000:00:05.0 ivshmem-doorbell     0000:00:06.0 ivshmem-plain
  0000:00:07.0 e1000e               0000:00:08.0 nvme
  0000:00:09.0 third edu            0000:00:0a.0 fourth edu

Hot-plug: with edu@port or --qemu-hotplug devices, COMMAND may run `rig-hotplug remove edu0` / `rig-hotplug add
edu0` in the guest; the host does the device_del / device_add over QMP and answers when done
(scripts/rig/hotplug-agent.py). IRQBRIDGE_RIG_HOTPLUG names them, e.g. "edu0=0000:01:00.0".

Exit status: COMMAND's; 124 when the watchdog fired; 125 when the rig failed (bad option,
boot failure or two boots that hung, a bind that failed, the guest dying before COMMAND finished).

Environment: RIG_CACHE_DIR (default <repo>/.rig) holds the cached base initramfs, the unpacked
kernel and run dirs; RIG_QEMU is the QEMU to run when --qemu is not given; RIG_PVH=0 boots the
compressed kernel (by default a kernel with a PVH entry is unpacked once and entered there);
RIG_WATCH_PID=PID stops the run (exit 143, QEMU and helpers killed) once process PID is gone, for
callers that cannot pass a Ctrl-C on (the rig plugin and `irqbridge rig` set it to themselves).
EOF
}

note() { echo "rig: $*" >&2; }
die() { echo "rig: error: $*" >&2; exit 125; }
bad_usage() { echo "rig: $*; see --help" >&2; exit 125; }

DEVICES=edu,ivshmem-doorbell:4
BINDS=()
COPY_PATHS=()
GUEST_ENV=()
TIMEOUT=600
BOOT_TIMEOUT=
# Which boot this is: the boot watchdog runs this script again, once, with the same arguments.
BOOT_ATTEMPT=${RIG_BOOT_ATTEMPT:-1}
unset RIG_BOOT_ATTEMPT
ORIGINAL_ARGS=("$@")
MEMORY=
SMP=2
KERNEL_VERSION=
EXTRA_APPEND=
VERBOSE=0
TIMING=${RIG_TIMING:-0}
KEEP=0
PRINT_MAP=0
QMP_SOCKET=
EXTRA_QEMU_DEVICES=()
EXTRA_QEMU_ARGS=()
EXTRA_HOTPLUG_DEVICES=()
QEMU_BINARY=${RIG_QEMU:-}

while (($#)); do
    case $1 in
        --devices) (($# >= 2)) || bad_usage "--devices needs a value"; DEVICES=$2; shift 2 ;;
        --devices=*) DEVICES=${1#*=}; shift ;;
        --bind) (($# >= 2)) || bad_usage "--bind needs BDF=DRIVER"; BINDS+=("$2"); shift 2 ;;
        --bind=*) BINDS+=("${1#*=}"); shift ;;
        --qemu-device) (($# >= 2)) || bad_usage "--qemu-device needs a -device string"; EXTRA_QEMU_DEVICES+=("$2"); shift 2 ;;
        --qemu-device=*) EXTRA_QEMU_DEVICES+=("${1#*=}"); shift ;;
        --qemu-hotplug) (($# >= 2)) || bad_usage "--qemu-hotplug needs a -device string"; EXTRA_HOTPLUG_DEVICES+=("$2"); shift 2 ;;
        --qemu-hotplug=*) EXTRA_HOTPLUG_DEVICES+=("${1#*=}"); shift ;;
        --qemu-arg) (($# >= 2)) || bad_usage "--qemu-arg needs an argument for QEMU"; EXTRA_QEMU_ARGS+=("$2"); shift 2 ;;
        --qemu-arg=*) EXTRA_QEMU_ARGS+=("${1#*=}"); shift ;;
        --qemu) (($# >= 2)) || bad_usage "--qemu needs the path of a qemu-system-x86_64"; QEMU_BINARY=$2; shift 2 ;;
        --qemu=*) QEMU_BINARY=${1#*=}; shift ;;
        --copy) (($# >= 2)) || bad_usage "--copy needs a path"; COPY_PATHS+=("$2"); shift 2 ;;
        --copy=*) COPY_PATHS+=("${1#*=}"); shift ;;
        --env) (($# >= 2)) || bad_usage "--env needs NAME=VALUE"; GUEST_ENV+=("$2"); shift 2 ;;
        --env=*) GUEST_ENV+=("${1#*=}"); shift ;;
        --timeout) (($# >= 2)) || bad_usage "--timeout needs seconds"; TIMEOUT=$2; shift 2 ;;
        --timeout=*) TIMEOUT=${1#*=}; shift ;;
        --boot-timeout) (($# >= 2)) || bad_usage "--boot-timeout needs seconds"; BOOT_TIMEOUT=$2; shift 2 ;;
        --boot-timeout=*) BOOT_TIMEOUT=${1#*=}; shift ;;
        --qmp-socket) (($# >= 2)) || bad_usage "--qmp-socket needs a path"; QMP_SOCKET=$2; shift 2 ;;
        --qmp-socket=*) QMP_SOCKET=${1#*=}; shift ;;
        --memory) (($# >= 2)) || bad_usage "--memory needs MiB"; MEMORY=$2; shift 2 ;;
        --memory=*) MEMORY=${1#*=}; shift ;;
        --smp) (($# >= 2)) || bad_usage "--smp needs a count"; SMP=$2; shift 2 ;;
        --smp=*) SMP=${1#*=}; shift ;;
        --append) (($# >= 2)) || bad_usage "--append needs arguments"; EXTRA_APPEND+=" $2"; shift 2 ;;
        --append=*) EXTRA_APPEND+=" ${1#*=}"; shift ;;
        --kernel) (($# >= 2)) || bad_usage "--kernel needs a version"; KERNEL_VERSION=$2; shift 2 ;;
        --kernel=*) KERNEL_VERSION=${1#*=}; shift ;;
        --verbose) VERBOSE=1; shift ;;
        --timing) TIMING=1; shift ;;
        --keep) KEEP=1; shift ;;
        --print-map) PRINT_MAP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) bad_usage "unknown option $1" ;;
        *) break ;;
    esac
done
COMMAND=("$@")
# A SwiftPM test bundle given without --testing-library runs XCTest alone: it finds none of
# the Swift Testing tests a rig package has, and exits 0 as if they had passed.
if [[ ${COMMAND[0]:-} == *.xctest ]]; then
    library_given=0
    for argument in "${COMMAND[@]:1}"; do [[ $argument == --testing-library* ]] && library_given=1; done
    if ((!library_given)); then
        COMMAND+=(--testing-library swift-testing)
        note "running the Swift Testing tests of $(basename "${COMMAND[0]}") (added --testing-library swift-testing; XCTest cases do not run in the guest)"
    fi
fi

[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || bad_usage "--timeout must be a positive number of seconds, not '$TIMEOUT'"
[[ -z $BOOT_TIMEOUT || $BOOT_TIMEOUT =~ ^(0|[1-9][0-9]*)$ ]] || bad_usage "--boot-timeout must be a number of seconds (0: none), not '$BOOT_TIMEOUT'"
[[ $SMP =~ ^[1-9][0-9]?$ ]] || bad_usage "--smp must be 1..99, not '$SMP'"
[[ -z $MEMORY || $MEMORY =~ ^[1-9][0-9]{2,5}$ ]] || bad_usage "--memory must be MiB (>= 100), not '$MEMORY'"
[[ $QMP_SOCKET != *,* ]] || bad_usage "--qmp-socket: QEMU options cannot carry a comma: '$QMP_SOCKET'"
((${#QMP_SOCKET} <= 107)) || bad_usage "--qmp-socket: a UNIX socket path is at most 107 bytes"
for assignment in "${GUEST_ENV[@]}"; do
    [[ $assignment =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || bad_usage "--env wants NAME=VALUE, not '$assignment'"
done
for arg in "${EXTRA_QEMU_ARGS[@]}"; do
    # QEMU takes an option with one dash or two (-kernel, --kernel).
    [[ $arg == -* ]] || continue
    option=${arg#-}
    case ${option#-} in
        machine|M|accel|kernel|initrd|append|serial|qmp|monitor|daemonize)
            bad_usage "--qemu-arg $arg: the rig sets that itself (kernel arguments: --append)" ;;
    esac
done
if [[ -n $QEMU_BINARY ]]; then
    # A name without a slash is looked up on PATH, as the shell would.
    resolved=$(command -v -- "$QEMU_BINARY" 2>/dev/null || true)
    [[ -n $resolved && -x $resolved && ! -d $resolved ]] ||
        bad_usage "--qemu $QEMU_BINARY: not an executable file (a qemu-system-x86_64 build)"
    QEMU_BINARY=$resolved
fi
for bind in "${BINDS[@]}"; do
    [[ $bind =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]=[A-Za-z0-9_-]+$ ]] ||
        bad_usage "--bind wants DOMAIN:BUS:SLOT.FN=DRIVER (e.g. 0000:00:03.0=vfio-pci), not '$bind'"
done

# --- device set -> QEMU arguments -------------------------------------------------------
QEMU_DEVICES=()
DEVICE_MAP=()
RIG_DEVICE_NAMES=()
IVSHMEM_VECTORS=0
IVSHMEM_PLAIN=0
NVME=0
EDU_SLOTS=(03 04 09 0a)
edu_count=0
# Hot-pluggable devices: each behind its own pcie-root-port (q35's root bus has no hot-plug).
HOTPLUG_SPECS=()      # NAME=-device spec, for the host agent's device_add
RIG_HOTPLUG_NAMES=()  # NAME=BDF, for the guest
hotplug_count=0
declare -A seen_device=()
# add_hotplug_device NAME SPEC WHAT: SPEC (a -device string without id/bus/addr) behind the
# next PCIe root port, as QMP id NAME, for the hot-plug agent to remove and add back.
add_hotplug_device() {
    local name=$1 spec=$2 what=$3
    ((hotplug_count < 8)) || bad_usage "at most 8 hot-pluggable devices (edu@port and --qemu-hotplug together)"
    local port_slot
    port_slot=$(printf %02x $((0x10 + hotplug_count)))
    [[ -z ${used_slot[$port_slot]:-} ]] || bad_usage "slot $port_slot (for $what's root port) is taken"
    used_slot[$port_slot]=1
    # The firmware numbers the ports' secondary buses in slot order: port n gets bus n + 1.
    local device_bdf
    device_bdf=$(printf '0000:%02x:00.0' $((hotplug_count + 1)))
    QEMU_DEVICES+=(-device "pcie-root-port,id=rp$hotplug_count,chassis=$((hotplug_count + 1)),slot=$((hotplug_count + 1)),addr=$port_slot.0"
                   -device "$spec,id=$name,bus=rp$hotplug_count,addr=00.0")
    DEVICE_MAP+=("0000:00:$port_slot.0 pcie-root-port rp$hotplug_count" "$device_bdf ${spec%%,*} (hot-pluggable, QMP id $name)")
    HOTPLUG_SPECS+=("$name=$spec,id=$name,bus=rp$hotplug_count,addr=00.0")
    RIG_HOTPLUG_NAMES+=("$name=$device_bdf")
    hotplug_count=$((hotplug_count + 1))
}

IFS=, read -r -a device_list <<< "$DEVICES"
declare -A used_slot=([00]=1 [05]=1 [06]=1 [07]=1 [08]=1 [1f]=1)
for spec in "${device_list[@]}"; do
    name=${spec%%:*}
    param=
    [[ $spec == *:* ]] && param=${spec#*:}
    slot=
    if [[ $name == *@port ]]; then
        name=${name%@port}
        [[ $name == edu ]] || bad_usage "only edu can be hot-pluggable in --devices (edu@port), not '$name': other models can, with --qemu-hotplug SPEC"
        [[ -z $param ]] || bad_usage "edu takes no parameter"
        add_hotplug_device "edu$hotplug_count" edu "edu@port"
        continue
    fi
    if [[ $name == *@* ]]; then
        slot=${name#*@}
        name=${name%%@*}
        [[ $name == edu ]] || bad_usage "only edu takes @SLOT"
        slot=${slot,,}
        [[ $slot =~ ^[0-1][0-9a-f]$ && $slot != 00 && $slot != 1f ]] ||
            bad_usage "edu@SLOT wants a slot 01..1e in hex, not '$slot' (or edu@port: hot-pluggable)"
    fi
    case $name in
        edu)
            [[ -z $param ]] || bad_usage "edu takes no parameter"
            if [[ -z $slot ]]; then
                for slot in "${EDU_SLOTS[@]}" ""; do [[ -z $slot || -z ${used_slot[$slot]:-} ]] && break; done
                [[ -n $slot ]] || bad_usage "no free default slot for another edu: use edu@SLOT"
            fi
            [[ -z ${used_slot[$slot]:-} ]] || bad_usage "slot $slot is taken or reserved (see --print-map and --help)"
            used_slot[$slot]=1
            edu_count=$((edu_count + 1))
            QEMU_DEVICES+=(-device "edu,addr=$slot.0")
            DEVICE_MAP+=("0000:00:$slot.0 edu")
            edu_name=edu
            ((edu_count == 1)) || edu_name=edu$edu_count
            RIG_DEVICE_NAMES+=("$edu_name=0000:00:$slot.0") ;;
        ivshmem-doorbell)
            IVSHMEM_VECTORS=${param:-4}
            if ! [[ $IVSHMEM_VECTORS =~ ^[1-9][0-9]{0,3}$ ]] || ((IVSHMEM_VECTORS > 1024)); then
                bad_usage "ivshmem-doorbell:N wants 1..1024 vectors, not '$param'"
            fi
            QEMU_DEVICES+=(-chardev "socket,id=ivshmem,path=@SOCKETS@/ivshmem.sock"
                           -device "ivshmem-doorbell,vectors=$IVSHMEM_VECTORS,chardev=ivshmem,addr=05.0")
            DEVICE_MAP+=("0000:00:05.0 ivshmem-doorbell ($IVSHMEM_VECTORS MSI-X vectors)")
            RIG_DEVICE_NAMES+=("ivshmem-doorbell=0000:00:05.0") ;;
        ivshmem-plain)
            [[ -z $param ]] || bad_usage "ivshmem-plain takes no parameter"
            IVSHMEM_PLAIN=1
            QEMU_DEVICES+=(-object "memory-backend-file,id=ivplain,share=on,mem-path=@RUN@/ivshmem-plain.mem,size=1M"
                           -device "ivshmem-plain,memdev=ivplain,addr=06.0")
            DEVICE_MAP+=("0000:00:06.0 ivshmem-plain")
            RIG_DEVICE_NAMES+=("ivshmem-plain=0000:00:06.0") ;;
        e1000e)
            [[ -z $param ]] || bad_usage "e1000e takes no parameter"
            QEMU_DEVICES+=(-device "e1000e,addr=07.0")
            DEVICE_MAP+=("0000:00:07.0 e1000e")
            RIG_DEVICE_NAMES+=("e1000e=0000:00:07.0") ;;
        nvme)
            [[ -z $param ]] || bad_usage "nvme takes no parameter"
            NVME=1
            QEMU_DEVICES+=(-drive "file=@RUN@/nvme.img,if=none,id=nvmedrive,format=raw"
                           -device "nvme,serial=rig00000001,drive=nvmedrive,addr=08.0")
            DEVICE_MAP+=("0000:00:08.0 nvme")
            RIG_DEVICE_NAMES+=("nvme=0000:00:08.0") ;;
        none|"") continue ;;
        *) bad_usage "unknown device '$name' (known: edu, ivshmem-doorbell[:N], ivshmem-plain, e1000e, nvme, none)" ;;
    esac
    if [[ $name != edu ]]; then
        [[ -z ${seen_device[$name]:-} ]] || bad_usage "$name given twice"
        seen_device[$name]=1
    fi
done

# check_device_spec OPTION SPEC PLACEMENT: SPEC is a -device string that starts with the model
# name and leaves addr= and bus= to the rig (PLACEMENT says where the rig puts it).
check_device_spec() {
    [[ $2 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*(,.*)?$ ]] ||
        bad_usage "$1 wants a QEMU -device string starting with the model name (e.g. rtl8139), not '$2'"
    [[ ,$2, != *,addr=* && ,$2, != *,bus=* ]] || bad_usage "$1 '$2': leave out addr= and bus=, $3"
}

# Any other QEMU device model, at a pinned slot the named set never uses (0b and 0f are left for
# edu@SLOT sharing a line; 10-17 for edu@port's root ports).
QEMU_DEVICE_SLOTS=(0c 0d 0e 18 19 1a 1b 1c 1d 1e)
qemu_device_count=0
for spec in "${EXTRA_QEMU_DEVICES[@]}"; do
    check_device_spec --qemu-device "$spec" "the rig pins the slot"
    [[ $spec != *, ]] || bad_usage "--qemu-device '$spec': a trailing comma (QEMU reads an empty property)"
    slot=
    for candidate in "${QEMU_DEVICE_SLOTS[@]}"; do
        [[ -z ${used_slot[$candidate]:-} ]] && { slot=$candidate; break; }
    done
    [[ -n $slot ]] || bad_usage "no free slot for another --qemu-device (at most ${#QEMU_DEVICE_SLOTS[@]})"
    used_slot[$slot]=1
    QEMU_DEVICES+=(-device "$spec,addr=$slot.0")
    DEVICE_MAP+=("0000:00:$slot.0 ${spec%%,*} (--qemu-device, qemu$qemu_device_count)")
    RIG_DEVICE_NAMES+=("qemu$qemu_device_count=0000:00:$slot.0")
    # Its id= names it too (Rig.requireDevice("nic")); names are checked for clashes below.
    if [[ ,$spec, =~ ,id=([A-Za-z][A-Za-z0-9_.-]*), ]]; then
        RIG_DEVICE_NAMES+=("${BASH_REMATCH[1]}=0000:00:$slot.0")
    fi
    qemu_device_count=$((qemu_device_count + 1))
done

# Any model, hot-pluggable: behind its own root port, after edu@port's (the same ports and buses).
plug_count=0
for spec in "${EXTRA_HOTPLUG_DEVICES[@]}"; do
    check_device_spec --qemu-hotplug "$spec" "the rig puts it behind its own root port"
    # The hot-plug agent re-reads SPEC for device_add: every property name=value, no ',,' escapes.
    [[ ${spec#*,} == "$spec" || ,${spec#*,}, =~ ^(,[A-Za-z0-9_.-]+=[^,]*)+,$ ]] ||
        bad_usage "--qemu-hotplug '$spec': after the model name, only name=value properties (no flags, empty items or ',,')"
    name=plug$plug_count
    if [[ ,$spec, =~ ,id=([^,]*), ]]; then
        name=${BASH_REMATCH[1]}
        [[ $name =~ ^[A-Za-z][A-Za-z0-9_.-]*$ ]] ||
            bad_usage "--qemu-hotplug '$spec': id= must start with a letter and hold letters, digits, '-', '.' or '_'"
        spec=$(sed -E 's/(^|,)id=[^,]*//' <<< "$spec")
    fi
    add_hotplug_device "$name" "$spec" "--qemu-hotplug"
    plug_count=$((plug_count + 1))
done

# One name, one device: the guest's names (IRQBRIDGE_RIG_DEVICES and _HOTPLUG) and QEMU's
# device ids (rpN, eduN, users' id=) each name one device, or QEMU stops at boot ("Duplicate ID")
# and Rig.devices keeps only the last.
declare -A name_seen=() id_seen=()
for entry in "${RIG_DEVICE_NAMES[@]}" "${RIG_HOTPLUG_NAMES[@]}"; do
    name=${entry%%=*}
    [[ -z ${name_seen[$name]:-} || ${name_seen[$name]} == "${entry#*=}" ]] ||
        bad_usage "the name $name is already taken (each device name and id= must be different)"
    name_seen[$name]=${entry#*=}
done
previous=
for arg in "${QEMU_DEVICES[@]}"; do
    if [[ $previous == -device && ,$arg, =~ ,id=([^,]*), ]]; then
        [[ -z ${id_seen[${BASH_REMATCH[1]}]:-} ]] ||
            bad_usage "the name ${BASH_REMATCH[1]} is already taken (each device name and id= must be different)"
        id_seen[${BASH_REMATCH[1]}]=1
    fi
    previous=$arg
done

if ((PRINT_MAP)); then
    printf '%s\n' "0000:00:00.0 q35 host bridge" "${DEVICE_MAP[@]}" \
        "0000:00:1f.0 ICH9 LPC/ISA bridge" "0000:00:1f.2 ICH9 SATA (AHCI)" "0000:00:1f.3 ICH9 SMBus"
    exit 0
fi
((${#COMMAND[@]})) || bad_usage "no command given"
GUEST_ENV=(IRQBRIDGE_RIG=1 "IRQBRIDGE_RIG_DEVICES=${RIG_DEVICE_NAMES[*]}" "${GUEST_ENV[@]}")
((hotplug_count == 0)) || GUEST_ENV=("IRQBRIDGE_RIG_HOTPLUG=${RIG_HOTPLUG_NAMES[*]}" "${GUEST_ENV[@]}")

newest_kernel_version() {
    local image
    for image in /boot/vmlinuz-*; do echo "${image#/boot/vmlinuz-}"; done | sort -V | tail -n1
}

# --- host prerequisites -----------------------------------------------------------------
prerequisites_present() {
    { [[ -n $QEMU_BINARY ]] || command -v qemu-system-x86_64 >/dev/null; } && command -v cpio >/dev/null &&
        [[ -x /bin/busybox ]] && compgen -G '/boot/vmlinuz-*' >/dev/null && command -v python3 >/dev/null
}
if ! prerequisites_present; then
    # An installed rig (irqbridge rig, share/irqbridge/rig) has no bootstrap.sh beside it.
    [[ -x $REPO_DIR/scripts/bootstrap.sh ]] ||
        die "missing qemu-system-x86_64, cpio, busybox-static, python3 or a kernel in /boot: install qemu-system-x86 cpio busybox-static python3 linux-image-amd64"
    note "installing missing packages (scripts/bootstrap.sh)"
    "$REPO_DIR/scripts/bootstrap.sh" >&2 || die "bootstrap failed"
    prerequisites_present || die "qemu-system-x86_64, cpio, busybox-static, python3 or a kernel in /boot still missing"
fi
if [[ -z $KERNEL_VERSION ]]; then
    KERNEL_VERSION=$(newest_kernel_version)
fi
KERNEL=/boot/vmlinuz-$KERNEL_VERSION
[[ -e $KERNEL ]] || die "no kernel $KERNEL (--kernel takes one of: $(for image in /boot/vmlinuz-*; do printf '%s ' "${image#/boot/vmlinuz-}"; done | sed 's/ $//'))"
[[ -r $KERNEL ]] || die "cannot read kernel $KERNEL (readable by root only here: run as root, or make it readable)"

# shellcheck source=scripts/rig/initramfs.sh
. "$RIG_DIR/initramfs.sh"

prepare_start_ns=$(date +%s%N)
mkdir -p "$CACHE_DIR"
# Run directories of runs that were killed outright (SIGKILL skips the cleanup).
find "$CACHE_DIR" -maxdepth 1 -name 'run-*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
BASE_IMAGE=$(base_initramfs)

# The image QEMU boots. Under software emulation about half of a boot is the bzImage's own
# decompressor (xz for Debian's kernels): a kernel built with CONFIG_PVH is unpacked once on
# the host (scripts/rig/pvh-kernel.py) and QEMU enters the ELF at its PVH entry. Cached per
# kernel image, like a kernel without the entry (booted as the bzImage, said once); RIG_PVH=0
# boots the bzImage always.
boot_image() {
    if [[ ${RIG_PVH:-1} == 0 ]] || ! command -v python3 > /dev/null; then
        echo "$KERNEL"
        return
    fi
    local key directory=$CACHE_DIR/$KERNEL_VERSION
    key=$(sha256sum "$KERNEL" | cut -c1-16)
    if [[ -f $directory/vmlinux-$key ]]; then
        echo "$directory/vmlinux-$key"
    elif [[ -f $directory/no-pvh-$key ]]; then
        echo "$KERNEL"
    else
        mkdir -p "$directory"
        # Another kernel image of this version (a package update) left its copy: 60-odd MB each.
        local old
        for old in "$directory"/vmlinux-* "$directory"/no-pvh-*; do
            [[ -e $old && $old != *-$key* ]] && rm -f "$old"
        done
        if python3 "$RIG_DIR/pvh-kernel.py" "$KERNEL" "$directory/vmlinux-$key" 2> "$directory/no-pvh-$key.$$"; then
            rm -f "$directory/no-pvh-$key.$$"
            echo "$directory/vmlinux-$key"
        else
            note "booting the compressed kernel, which takes longer: $(head -n1 "$directory/no-pvh-$key.$$")"
            mv -f "$directory/no-pvh-$key.$$" "$directory/no-pvh-$key"
            echo "$KERNEL"
        fi
    fi
}
BOOT_KERNEL=$(boot_image)

# --- the run directory ------------------------------------------------------------------
RUN_DIR=$(mktemp -d "$CACHE_DIR/run-XXXXXX")
[[ $RUN_DIR != *,* ]] || die "the cache directory's path contains a comma, which QEMU options cannot carry: $CACHE_DIR (set RIG_CACHE_DIR)"
# UNIX socket paths are limited to 108 bytes: deep checkouts get theirs under /tmp.
SOCKET_DIR=$RUN_DIR
if ((${#RUN_DIR} > 80)); then
    SOCKET_DIR=$(mktemp -d /tmp/irqbridge-rig.XXXXXX)
fi
CHILD_PIDS=()
# Waits up to two seconds for a child sent SIGTERM, then kills it: one whose SIGTERM is
# blocked (a mask inherited from whatever started run.sh, such as a SwiftPM plugin's thread)
# must not hold the run open after the guest has finished.
# QEMU runs under `timeout`, in a process group of its own: the group is killed, not
# `timeout` alone, which would leave QEMU running with no watchdog.
reap() {
    local pid=$1
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
        note "a helper (pid $pid) did not end on SIGTERM within 2 s; killed"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317 # invoked through the EXIT trap
cleanup() {
    local pid
    for pid in "${CHILD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${CHILD_PIDS[@]}"; do reap "$pid"; done
    [[ $SOCKET_DIR == "$RUN_DIR" ]] || rm -rf "$SOCKET_DIR"
    if ((KEEP)); then note "run directory kept: $RUN_DIR"; else rm -rf "$RUN_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A caller that cannot pass a Ctrl-C on names itself in RIG_WATCH_PID: SwiftPM ends the rig
# plugin outright, and the plugin's run.sh runs in a session of its own, so no signal reaches
# it and QEMU would run on to the watchdog. Once that process is gone the run stops as on SIGTERM.
if [[ -n ${RIG_WATCH_PID:-} ]]; then
    [[ $RIG_WATCH_PID =~ ^[1-9][0-9]*$ ]] || die "RIG_WATCH_PID must be a process id, not '$RIG_WATCH_PID'"
    kill -0 "$RIG_WATCH_PID" 2>/dev/null || die "RIG_WATCH_PID names no running process ($RIG_WATCH_PID): nothing to watch"
    # Off the caller's streams: its last sleep must not hold a pipe reader past the run's end.
    (while kill -0 "$RIG_WATCH_PID" 2>/dev/null; do sleep 0.5; done; kill -TERM $$) < /dev/null > /dev/null 2>&1 &
    CHILD_PIDS+=($!)
fi

# COMMAND's own program, found like the guest shell would (busybox applets stay busybox's),
# and a script's interpreter.
RIG_GUEST_CWD=$PWD
APPLET_LINKS=()
is_applet() { /bin/busybox --list | grep -qx -- "$1"; }
# add_program NAME_OR_PATH: copies a host program the guest would not otherwise have.
add_program() {
    local program=$1 program_path
    if [[ $program == */* ]]; then
        program_path=$(realpath -s "$program")
        if [[ ! -f $program_path ]] && is_applet "$(basename "$program")"; then
            APPLET_LINKS+=("$program_path")  # e.g. #!/usr/bin/awk
            return
        fi
        [[ -f $program_path ]] || die "no such program on the host: $program"
    elif is_applet "$program" || ! program_path=$(command -v -- "$program") || [[ $program_path != /* ]]; then
        return
    fi
    COPY_PATHS+=("$program_path")
    local shebang interpreter argument
    if IFS= read -r shebang < "$program_path" && [[ $shebang == '#!'* ]]; then
        read -r interpreter argument _ <<< "${shebang#\#!}"
        if [[ $interpreter == */env ]]; then
            [[ -n $argument ]] && add_program "$argument"
        elif [[ -n $interpreter ]]; then
            add_program "$interpreter"
        fi
    fi
}
add_program "${COMMAND[0]}"
if [[ ${COMMAND[0]} == */* ]]; then
    for resources in "$(dirname "$(realpath -s "${COMMAND[0]}")")"/*.resources; do
        [[ -d $resources ]] && COPY_PATHS+=("$resources")
    done
fi
for path in "${COPY_PATHS[@]}"; do [[ -e $path ]] || die "--copy: no such path: $path"; done
for i in "${!COPY_PATHS[@]}"; do COPY_PATHS[i]=$(realpath -s "${COPY_PATHS[$i]}"); done

mkdir -p "$RUN_DIR/payload$RIG_GUEST_CWD"
payload_initramfs "$RUN_DIR/payload" "$RUN_DIR/payload.cpio"
# The kernel only recognises the uncompressed archive after the gzip one at a 4-byte
# aligned offset: pad the base image with zeros (which the unpacker skips) to 512 bytes.
base_size=$(stat -c %s "$BASE_IMAGE")
{ cat "$BASE_IMAGE"; head -c $(( (512 - base_size % 512) % 512 )) /dev/zero; cat "$RUN_DIR/payload.cpio"; } > "$RUN_DIR/initrd"
payload_mib=$(( $(stat -c %s "$RUN_DIR/payload.cpio") >> 20 ))
rm -rf "$RUN_DIR/payload" "$RUN_DIR/payload.cpio"
# The kernel unpacks the payload before /init runs: a larger one boots longer.
[[ -n $BOOT_TIMEOUT ]] || BOOT_TIMEOUT=$(( 180 + payload_mib / 4 ))
if [[ -z $MEMORY ]]; then
    # The initrd is held twice while unpacking (the image and the tmpfs copy).
    MEMORY=$(( 768 + 2 * payload_mib ))
    ((MEMORY >= 1024)) || MEMORY=1024
fi

((NVME)) && truncate -s 1M "$RUN_DIR/nvme.img"
((IVSHMEM_PLAIN)) && truncate -s 1M "$RUN_DIR/ivshmem-plain.mem"
if ((IVSHMEM_VECTORS)); then
    server_options=()
    ((VERBOSE)) && server_options+=(--verbose)
    python3 "$RIG_DIR/ivshmem-server.py" --socket "$SOCKET_DIR/ivshmem.sock" --shm-path "$RUN_DIR/ivshmem.mem" \
        --vectors "$IVSHMEM_VECTORS" --trigger-socket "$SOCKET_DIR/ivshmem-trigger.sock" \
        --pid-file "$RUN_DIR/ivshmem.pid" \
        "${server_options[@]}" &
    CHILD_PIDS+=($!)
    for _ in $(seq 100); do [[ -S $SOCKET_DIR/ivshmem.sock ]] && break; sleep 0.05; done
    [[ -S $SOCKET_DIR/ivshmem.sock ]] || die "the ivshmem server did not start"
    # $! may be a wrapper (pyenv shims fork): the pid file names the server itself.
    CHILD_PIDS+=("$(cat "$RUN_DIR/ivshmem.pid")")
fi

# QMP monitor: always there, for host-side scripts and the hot-plug agent.
[[ -n $QMP_SOCKET ]] || QMP_SOCKET=$SOCKET_DIR/qmp.sock
((KEEP)) && note "QMP socket: $QMP_SOCKET"

# The hot-plug request port (guest ttyS3) and its host agent.
HOTPLUG_SERIAL=()
if ((hotplug_count)); then
    mkfifo "$RUN_DIR/hotplug.in" "$RUN_DIR/hotplug.out"
    agent_options=()
    for spec in "${HOTPLUG_SPECS[@]}"; do agent_options+=(--device "$spec"); done
    python3 "$RIG_DIR/hotplug-agent.py" --qmp "$QMP_SOCKET" --port "$RUN_DIR/hotplug" \
        --log "$RUN_DIR/hotplug.log" "${agent_options[@]}" &
    CHILD_PIDS+=($!)
    # shellcheck disable=SC2054 # QEMU option syntax
    HOTPLUG_SERIAL=(-chardev "pipe,id=hotplug,path=$RUN_DIR/hotplug" -serial chardev:hotplug)
fi

# Host ends of the serial ports: FIFOs drained by a copier each, so the host's stdout/stderr
# may be anything (terminal, pipe, file, socket) and QEMU never reopens them. The copiers
# write whole lines, so the two streams into one file or terminal interleave by line only.
for port in out err; do
    mkfifo "$RUN_DIR/$port.in" "$RUN_DIR/$port.out"
done
python3 "$RIG_DIR/copy-lines.py" < "$RUN_DIR/out.out" &
OUT_PID=$!
python3 "$RIG_DIR/copy-lines.py" < "$RUN_DIR/err.out" >&2 &
ERR_PID=$!
CHILD_PIDS+=("$OUT_PID" "$ERR_PID")
if ((VERBOSE)); then
    mkfifo "$RUN_DIR/console.in" "$RUN_DIR/console.out"
    tee "$RUN_DIR/console.log" < "$RUN_DIR/console.out" >&2 &
    CONSOLE_PID=$!
    CHILD_PIDS+=("$CONSOLE_PID")
    console_chardev="pipe,id=console,path=$RUN_DIR/console"
else
    CONSOLE_PID=
    console_chardev="file,id=console,path=$RUN_DIR/console.log"
fi

# shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
QEMU_ARGS=(
    -accel tcg -machine q35,kernel-irqchip=split -cpu max -smp "$SMP" -m "$MEMORY"
    -nodefaults -no-user-config -display none -no-reboot
    -device intel-iommu,intremap=on
    -kernel "$BOOT_KERNEL" -initrd "$RUN_DIR/initrd"
    -append "console=ttyS1 intel_iommu=on no_timer_check panic=-1 loglevel=4 mitigations=off rdinit=/init$EXTRA_APPEND"
    -chardev "pipe,id=out,path=$RUN_DIR/out" -serial chardev:out
    -chardev "$console_chardev" -serial chardev:console
    -chardev "pipe,id=err,path=$RUN_DIR/err" -serial chardev:err
    "${HOTPLUG_SERIAL[@]}"
    -qmp "unix:$QMP_SOCKET,server=on,wait=off"
)
for arg in "${QEMU_DEVICES[@]}"; do
    arg=${arg//@RUN@/$RUN_DIR}
    QEMU_ARGS+=("${arg//@SOCKETS@/$SOCKET_DIR}")
done
QEMU_ARGS+=("${EXTRA_QEMU_ARGS[@]}")

seconds_since() {
    local ms=$(( ($(date +%s%N) - $1) / 1000000 ))
    echo "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
}
prepare=$(seconds_since "$prepare_start_ns")
start_ns=$(date +%s%N)
set +e
timeout -k 5 "$TIMEOUT" "${QEMU_BINARY:-qemu-system-x86_64}" "${QEMU_ARGS[@]}" < /dev/null 2> "$RUN_DIR/qemu.stderr" &
QEMU_PID=$!
CHILD_PIDS+=("$QEMU_PID")
# The console's last lines on stderr, for a guest killed before it reported (saying so when
# the console is empty: loglevel 4 prints little).
show_console_tail() {
    tail -n 20 "$RUN_DIR/console.log" 2>/dev/null | sed 's/^/  | /' >&2 || true
    [[ -s $RUN_DIR/console.log ]] || note "(the console was empty; --verbose shows the kernel's messages)"
}
# The boot watchdog: until the guest says RIG-BOOTED (its modules are loaded, the job starts).
boot_hung=0
if ((BOOT_TIMEOUT)); then
    while kill -0 "$QEMU_PID" 2>/dev/null && ! grep -aq 'RIG-BOOTED' "$RUN_DIR/console.log" 2>/dev/null; do
        if (( $(date +%s%N) - start_ns >= BOOT_TIMEOUT * 1000000000 )); then
            kill -TERM "$QEMU_PID" 2>/dev/null  # timeout passes it on to QEMU
            # Booted between the look and the kill: the command had started, so it is not
            # run again (its output would come twice); the run failed.
            if grep -aq 'RIG-BOOTED' "$RUN_DIR/console.log" 2>/dev/null; then boot_hung=2; else boot_hung=1; fi
            break
        fi
        sleep 0.2
    done
fi
wait "$QEMU_PID"
qemu_status=$?
set -e
elapsed=$(seconds_since "$start_ns")

# Let the stream readers drain; they end when QEMU closes the FIFOs (never if it failed first).
for pid in $OUT_PID $ERR_PID $CONSOLE_PID; do
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill "$pid" 2>/dev/null || true
    reap "$pid"
done

((VERBOSE)) && [[ -s $RUN_DIR/qemu.stderr ]] && sed 's/^/rig: qemu: /' "$RUN_DIR/qemu.stderr" >&2
status_line=$(grep -a -o 'RIG-EXIT-STATUS [0-9]*' "$RUN_DIR/console.log" 2>/dev/null | tail -n1 || true)
if [[ -n $status_line ]]; then
    status=${status_line#RIG-EXIT-STATUS }
    # The guest's own lines say which bind failed and why, then "binding failed; command not run".
    if ((status == 125)) && grep -aq 'rig: binding failed; command not run' "$RUN_DIR/console.log"; then
        grep -a '^rig: ' "$RUN_DIR/console.log" | sed 's/\r$//' >&2
    fi
    ((TIMING)) && note "image prepared in ${prepare}s (payload ${payload_mib} MiB); guest ran ${elapsed}s (boot + command + power-off)"
    # The guest's shell reports a command a signal ended as 128 + the signal's number.
    if ((status > 128 && status < 160)); then
        note "the command ended with status $status: killed by signal $((status - 128)) (SIG$(kill -l $((status - 128)) 2>/dev/null || echo '?'))$( ((status == 132)) && echo ': a Swift runtime trap?')"
    fi
    exit "$status"
fi
if ((boot_hung == 2)); then
    note "the guest booted just as its boot timeout (${BOOT_TIMEOUT}s) killed it; not run again"
    exit 125
fi
if ((boot_hung)); then
    note "the guest did not boot within ${BOOT_TIMEOUT}s (boot $BOOT_ATTEMPT of 2); killed. Last console lines:"
    show_console_tail
    if ((BOOT_ATTEMPT < 2)); then
        # Nothing of COMMAND ran: start over, helpers and all, with a fresh run directory.
        note "booting it again"
        cleanup
        trap - EXIT
        # Through bash, as the callers start it: the file need not be executable.
        RIG_BOOT_ATTEMPT=$((BOOT_ATTEMPT + 1)) exec "$BASH" "$RIG_DIR/run.sh" "${ORIGINAL_ARGS[@]}"
    fi
    exit 125
fi
if ((qemu_status == 124 || qemu_status == 137)); then
    note "watchdog: the guest did not finish within ${TIMEOUT}s; killed. Last console lines:"
    show_console_tail
    exit 124
fi
# QEMU that refused its options (an unknown model, a bad --qemu-arg) printed why and booted
# nothing: that line is the whole story.
if ((qemu_status != 0)) && [[ ! -s $RUN_DIR/console.log && -s $RUN_DIR/qemu.stderr ]]; then
    note "QEMU did not start the guest (exit $qemu_status): $(head -n1 "$RUN_DIR/qemu.stderr")"
    exit 125
fi
panic=$(grep -a -m1 -o 'Kernel panic - .*' "$RUN_DIR/console.log" 2>/dev/null | tr -d '\r' || true)
[[ -z $panic ]] || note "the guest's kernel panicked: $panic"
note "the guest ended without reporting the command's status (QEMU exit $qemu_status). Last console lines:"
tail -n 20 "$RUN_DIR/console.log" 2>/dev/null | sed 's/^/  | /' >&2
[[ -s $RUN_DIR/qemu.stderr ]] && sed 's/^/  qemu: /' "$RUN_DIR/qemu.stderr" >&2
exit 125
