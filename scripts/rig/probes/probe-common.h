/*
 * Shared helpers for the rig's raw-C probes: VFIO device setup, config-space and BAR
 * access, interrupt wiring, and latency statistics. Header-only so each probe is one
 * static binary built from one .c file (see build.sh).
 *
 * These probes prove the rig (QEMU + guest kernel + VFIO/UIO) independently of the Swift
 * code. edu-roundtrip's round trips are CBaselines' raw-C edu loop (compiled in by
 * build.sh), the one the benchmark holds the bridge against.
 */
#ifndef PROBE_COMMON_H
#define PROBE_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *probe_name = "probe";

static void probe_die(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void probe_die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "%s: ", probe_name);
    vfprintf(stderr, format, args);
    if (errno) fprintf(stderr, " (%s)", strerror(errno));
    fputc('\n', stderr);
    va_end(args);
    exit(2);
}

static inline uint64_t probe_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline long probe_parse_long(const char *text, long min, long max, const char *what) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 0);
    if (errno || *end || end == text || value < min || value > max) {
        errno = 0;
        probe_die("%s must be %ld..%ld, not '%s'", what, min, max, text);
    }
    return value;
}

/* --- latency statistics -------------------------------------------------------------- */

static inline int probe_compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Prints "RESULT name=... count=... delivered=... lost=... min_ns=... p50_ns=... ..." on
 * stdout: one line, key=value, for scripts (bench) to parse. Sorts samples in place. */
static inline void probe_print_summary(const char *name, long requested, long delivered, uint64_t *samples, long n) {
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) sum += samples[i];
    qsort(samples, (size_t)n, sizeof *samples, probe_compare_u64);
#define PCT(p) (n ? samples[(long)((double)(n - 1) * (p))] : 0)
    printf("RESULT name=%s count=%ld delivered=%ld lost=%ld min_ns=%llu p50_ns=%llu p90_ns=%llu p99_ns=%llu"
           " max_ns=%llu mean_ns=%llu\n",
           name, requested, delivered, requested - delivered, (unsigned long long)PCT(0.0),
           (unsigned long long)PCT(0.50), (unsigned long long)PCT(0.90), (unsigned long long)PCT(0.99),
           (unsigned long long)PCT(1.0), (unsigned long long)(n ? sum / (uint64_t)n : 0));
#undef PCT
    fflush(stdout);
}

/* --- eventfds ------------------------------------------------------------------------- */

static inline int probe_eventfd(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) probe_die("eventfd");
    return fd;
}

/* Waits up to timeout_ms for fd to become readable and reads its 8-byte counter.
 * Returns the counter value, or 0 on timeout. */
static inline uint64_t probe_wait_counter(int fd, int timeout_ms) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        int ready = poll(&pfd, 1, timeout_ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) probe_die("poll");
        if (ready == 0) return 0;
        break;
    }
    uint64_t value = 0;
    if (read(fd, &value, sizeof value) != (ssize_t)sizeof value) {
        if (errno == EAGAIN) return 0;
        probe_die("read eventfd");
    }
    return value;
}

/* --- VFIO ----------------------------------------------------------------------------- */

struct probe_vfio {
    int container, group, device;
    struct vfio_region_info config;
};

static inline void probe_vfio_open(struct probe_vfio *v, const char *bdf) {
    char path[PATH_MAX + 16], link[PATH_MAX];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t len = readlink(path, link, sizeof link - 1);
    if (len < 0) probe_die("%s has no IOMMU group (is intel_iommu=on?)", bdf);
    link[len] = 0;
    const char *group_number = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;

    v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (v->container < 0) probe_die("open /dev/vfio/vfio");
    if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) probe_die("VFIO API version mismatch");
    if (!ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU)) probe_die("no VFIO type1 IOMMU support");

    snprintf(path, sizeof path, "/dev/vfio/%s", group_number);
    v->group = open(path, O_RDWR | O_CLOEXEC);
    if (v->group < 0) probe_die("open %s (is %s bound to vfio-pci?)", path, bdf);
    struct vfio_group_status status = {.argsz = sizeof status};
    if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &status)) probe_die("VFIO_GROUP_GET_STATUS");
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        errno = 0;
        probe_die("group %s is not viable: bind all its devices to vfio-pci", group_number);
    }
    if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container)) probe_die("VFIO_GROUP_SET_CONTAINER");
    if (ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)) probe_die("VFIO_SET_IOMMU");
    v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
    if (v->device < 0) probe_die("VFIO_GROUP_GET_DEVICE_FD %s", bdf);

    v->config = (struct vfio_region_info){.argsz = sizeof v->config, .index = VFIO_PCI_CONFIG_REGION_INDEX};
    if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &v->config)) probe_die("config region info");
}

static inline uint16_t probe_vfio_config_read16(struct probe_vfio *v, unsigned offset) {
    uint16_t value;
    if (pread(v->device, &value, 2, (off_t)(v->config.offset + offset)) != 2) probe_die("config read 0x%x", offset);
    return value;
}

static inline void probe_vfio_config_write16(struct probe_vfio *v, unsigned offset, uint16_t value) {
    if (pwrite(v->device, &value, 2, (off_t)(v->config.offset + offset)) != 2) probe_die("config write 0x%x", offset);
}

/* MSI and MSI-X writes are DMA: dropped silently without Bus Master Enable. */
static inline void probe_vfio_enable_bus_master(struct probe_vfio *v) {
    uint16_t command = probe_vfio_config_read16(v, PCI_COMMAND);
    probe_vfio_config_write16(v, PCI_COMMAND, command | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static inline volatile uint32_t *probe_vfio_map_bar(struct probe_vfio *v, unsigned bar, size_t *size) {
    struct vfio_region_info info = {.argsz = sizeof info, .index = bar};
    if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &info)) probe_die("BAR%u region info", bar);
    if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP) || !info.size) {
        errno = 0;
        probe_die("BAR%u cannot be mmapped", bar);
    }
    void *map = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, v->device, (off_t)info.offset);
    if (map == MAP_FAILED) probe_die("mmap BAR%u", bar);
    if (size) *size = info.size;
    return map;
}

static inline unsigned probe_vfio_irq_count(struct probe_vfio *v, unsigned index) {
    struct vfio_irq_info info = {.argsz = sizeof info, .index = index};
    if (ioctl(v->device, VFIO_DEVICE_GET_IRQ_INFO, &info)) probe_die("VFIO_DEVICE_GET_IRQ_INFO %u", index);
    return info.count;
}

/* VFIO_DEVICE_SET_IRQS with one eventfd per vector (count 0 with DATA_NONE disables). */
static inline void probe_vfio_set_irq_eventfds(struct probe_vfio *v, unsigned index, const int *fds, unsigned count) {
    size_t size = sizeof(struct vfio_irq_set) + sizeof(int32_t) * count;
    struct vfio_irq_set *set = calloc(1, size);
    if (!set) probe_die("calloc");
    set->argsz = (uint32_t)size;
    set->flags = (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = index;
    set->start = 0;
    set->count = count;
    memcpy(set->data, fds, sizeof(int32_t) * count);
    if (ioctl(v->device, VFIO_DEVICE_SET_IRQS, set)) probe_die("VFIO_DEVICE_SET_IRQS index %u count %u", index, count);
    free(set);
}

static inline void probe_vfio_unmask_intx(struct probe_vfio *v) {
    struct vfio_irq_set set = {
        .argsz = sizeof set,
        .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
        .index = VFIO_PCI_INTX_IRQ_INDEX,
        .start = 0,
        .count = 1,
    };
    if (ioctl(v->device, VFIO_DEVICE_SET_IRQS, &set)) probe_die("VFIO unmask INTx");
}

/* --- sysfs (UIO and BAR access without VFIO) ------------------------------------------ */

static inline volatile uint32_t *probe_sysfs_map_bar(const char *bdf, unsigned bar) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource%u", bdf, bar);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) probe_die("open %s", path);
    struct stat st;
    if (fstat(fd, &st)) probe_die("stat %s", path);
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) probe_die("mmap %s", path);
    close(fd);
    return map;
}

static inline int probe_sysfs_open_config(const char *bdf) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", bdf);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) probe_die("open %s", path);
    return fd;
}

#endif
