# shellcheck shell=bash
# Builds the rig's initramfs. Sourced by run.sh (needs: RIG_DIR, CACHE_DIR, KERNEL_VERSION, die, note).
#
# The image is two concatenated cpio archives (the kernel unpacks each in turn):
#   base     busybox-static, the VFIO/UIO modules, /init. Cached under .rig/<kernel version>/,
#            keyed by the inputs' hash, so it is built once per kernel.
#   payload  the files of one run: the command's binaries and every shared library ldd lists,
#            at their host paths, plus /rig/job.sh. Uncompressed: under TCG, decompressing in
#            the guest costs more than copying.

# Modules loaded at boot (each with its dependencies from modules.dep). Drivers for the
# emulated devices themselves (e1000e, nvme) are deliberately absent: devices start unbound,
# so a test binds exactly what it names.
RIG_MODULES=(vfio-pci vfio_iommu_type1 uio_pci_generic)

# Prints the .ko paths (relative to /lib/modules/<ver>) of the given modules and their
# dependencies, dependencies first, each once.
module_load_order() {
    local moddir=$1; shift
    local name line deps path seen=" "
    for name in "$@"; do
        line=$(grep -E "/${name}\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n1) ||
            die "module $name not found in $moddir/modules.dep"
        path=${line%%:*}
        deps=${line#*:}
        # modules.dep lists dependencies so that the last must be loaded first.
        local ordered=()
        for dep in $deps; do ordered=("$dep" "${ordered[@]}"); done
        for dep in "${ordered[@]}" "$path"; do
            case $seen in *" $dep "*) continue ;; esac
            seen+="$dep "
            echo "$dep"
        done
    done
}

# Prints the path of the cached base image, building it first if needed.
base_initramfs() {
    local moddir=/lib/modules/$KERNEL_VERSION
    [[ -f $moddir/modules.dep ]] || die "no modules for kernel $KERNEL_VERSION in $moddir (install linux-image-$KERNEL_VERSION)"
    local order
    order=$(module_load_order "$moddir" "${RIG_MODULES[@]}") || exit 125
    local key
    key=$( { cat "$RIG_DIR/guest-init.sh" "$RIG_DIR/guest-bind.sh" "$RIG_DIR/guest-hotplug.sh"; echo "$order"; sha256sum /bin/busybox; } | sha256sum | cut -c1-16)
    local image=$CACHE_DIR/$KERNEL_VERSION/base-$key.cpio.gz
    if [[ -f $image ]]; then
        echo "$image"
        return
    fi
    note "building base initramfs for $KERNEL_VERSION"
    local stage
    stage=$(mktemp -d "$CACHE_DIR/stage.XXXXXX")
    chmod 0755 "$stage"
    mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,rig,lib/modules/rig}
    cp /bin/busybox "$stage/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$stage/bin/$applet"
    done
    ln -sf ../../bin/busybox "$stage/usr/bin/env"  # for "#!/usr/bin/env ..." scripts
    local ko
    : > "$stage/rig/modules.order"
    while read -r ko; do
        local file
        file=$(basename "$ko")
        case $file in
            *.ko) cp "$moddir/$ko" "$stage/lib/modules/rig/$file" ;;
            *.ko.xz) xz -dc "$moddir/$ko" > "$stage/lib/modules/rig/${file%.xz}"; file=${file%.xz} ;;
            *.ko.zst) zstd -qdc "$moddir/$ko" > "$stage/lib/modules/rig/${file%.zst}"; file=${file%.zst} ;;
            *) die "unsupported module format: $ko" ;;
        esac
        echo "$file" >> "$stage/rig/modules.order"
    done <<< "$order"
    install -m 0755 "$RIG_DIR/guest-init.sh" "$stage/init"
    install -m 0755 "$RIG_DIR/guest-bind.sh" "$stage/usr/bin/rig-bind"
    install -m 0755 "$RIG_DIR/guest-hotplug.sh" "$stage/usr/bin/rig-hotplug"
    mkdir -p "$(dirname "$image")"
    (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -1 > "$image.tmp.$$"
    mv "$image.tmp.$$" "$image"
    # Images of older inputs are dead weight.
    find "$(dirname "$image")" -maxdepth 1 -name "base-*.cpio.gz" ! -name "$(basename "$image")" -delete
    rm -rf "$stage"
    echo "$image"
}

# Copies FILE (dereferenced) to the same absolute path under STAGE.
stage_file() {
    local stage=$1 file=$2
    [[ -e $stage$file ]] && return
    mkdir -p "$stage$(dirname "$file")"
    cp -L "$file" "$stage$file"
}

# Copies FILE, and if it is a dynamically linked ELF every library ldd lists, to STAGE.
stage_with_libraries() {
    local stage=$1 file=$2
    stage_file "$stage" "$file"
    [[ $(head -c4 "$file" 2>/dev/null | od -An -c | tr -d ' ') == 177ELF ]] || return 0
    local lib
    # ldd lines: "libx.so => /path (addr)", "/lib64/ld-linux-x86-64.so.2 (addr)", "linux-vdso.so.1 (addr)".
    while read -r lib; do
        [[ -n $lib && -e $lib ]] && stage_file "$stage" "$lib"
    done < <(ldd "$file" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }')
    return 0
}

# Copies PATH (a file, or a directory recursively) with the libraries of every ELF file in it.
stage_path() {
    local stage=$1 path=$2 file
    if [[ -d $path ]]; then
        while IFS= read -r -d '' file; do
            stage_with_libraries "$stage" "$file"
        done < <(find "$path" -type f -print0)
    else
        stage_with_libraries "$stage" "$path"
    fi
}

# Quotes a word for the guest's POSIX shell.
shell_quote() {
    printf "'%s'" "${1//\'/\'\\\'\'}"
}

# Builds the payload archive for this run. Arguments: STAGE OUTPUT; reads the arrays
# COPY_PATHS, APPLET_LINKS (paths to make busybox links), BINDS, GUEST_ENV (NAME=VALUE)
# and COMMAND, and RIG_GUEST_CWD.
payload_initramfs() {
    local stage=$1 output=$2 path
    chmod 0755 "$stage"
    mkdir -p "$stage/rig"
    for path in "${COPY_PATHS[@]}"; do
        stage_path "$stage" "$path"
    done
    for path in "${APPLET_LINKS[@]}"; do
        [[ -e $stage$path ]] && continue
        mkdir -p "$stage$(dirname "$path")"
        ln -sf /bin/busybox "$stage$path"
    done
    {
        echo "RIG_CWD=$(shell_quote "$RIG_GUEST_CWD")"
        local assignment
        for assignment in "${GUEST_ENV[@]}"; do
            echo "export ${assignment%%=*}=$(shell_quote "${assignment#*=}")"
        done
        echo "rig_binds() {"
        echo "    true"
        local bind
        for bind in "${BINDS[@]}"; do
            echo "    rig-bind $(shell_quote "${bind%%=*}") $(shell_quote "${bind#*=}") || return 1"
        done
        echo "}"
        printf 'rig_command() {\n   '
        local word
        for word in "${COMMAND[@]}"; do printf ' %s' "$(shell_quote "$word")"; done
        printf '\n}\n'
    } > "$stage/rig/job.sh"
    (cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) > "$output"
}
