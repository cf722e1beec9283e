// Why this file exists: the bridge's VFIO round trip must be held against a C
// loop doing the same with raw VFIO ioctls in the same boot (issue 5), and the
// rig's raw-C probe proves the rig with the same loop (one loop, not two). The
// loop is deliberately plain: no error recovery beyond closing what it opened.
#define _GNU_SOURCE
#include "cbl_vfio_edu.h"
#include "cbl_epoll_receiver.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const uint32_t CBL_EDU_RAISE = 0x60;
const uint32_t CBL_EDU_STATUS = 0x24;
const uint32_t CBL_EDU_ACKNOWLEDGE = 0x64;

enum { EDU_IDENT = 0x00, PCI_COMMAND_OFFSET = 0x04, COMMAND_BUS_MASTER = 1u << 2, COMMAND_INTX_DISABLE = 1u << 10 };

uint32_t cbl_edu_acknowledge(volatile void *bar0) {
    volatile uint32_t *registers = bar0;
    uint32_t status = registers[0x24 / 4];
    if (status != 0) registers[0x64 / 4] = status;
    return status;
}

typedef struct edu_vfio {
    int container, group, device, eventfd, unmask_fd;
    volatile void *bar0;
    size_t bar0_size;
    cbl_edu_options options;
} edu_vfio;

static int fail(char *error, size_t size, int code, const char *format, ...) {
    if (error != NULL && size > 0) {
        va_list args;
        va_start(args, format);
        int used = vsnprintf(error, size, format, args);
        va_end(args);
        if (used >= 0 && (size_t)used < size) snprintf(error + used, size - (size_t)used, ": %s", strerror(code));
    }
    return code;
}

static uint32_t irq_index(const edu_vfio *edu) {
    return edu->options.kind == CBL_EDU_MSI ? VFIO_PCI_MSI_IRQ_INDEX : VFIO_PCI_INTX_IRQ_INDEX;
}

static int set_irqs(int device, uint32_t flags, uint32_t index, uint32_t count, int32_t fd) {
    char buffer[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
    struct vfio_irq_set *set = (struct vfio_irq_set *)buffer;
    set->argsz = sizeof buffer;
    set->flags = flags;
    set->index = index;
    set->start = 0;
    set->count = count;
    memcpy(set->data, &fd, sizeof fd);
    return ioctl(device, VFIO_DEVICE_SET_IRQS, set) == 0 ? 0 : errno;
}

static void edu_close(edu_vfio *edu) {
    if (edu->device >= 0) set_irqs(edu->device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, irq_index(edu), 0, -1);
    if (edu->bar0 != NULL) munmap((void *)edu->bar0, edu->bar0_size);
    if (edu->unmask_fd >= 0) close(edu->unmask_fd);
    if (edu->eventfd >= 0) close(edu->eventfd);
    if (edu->device >= 0) close(edu->device);
    if (edu->group >= 0) close(edu->group);
    if (edu->container >= 0) close(edu->container);
}

static int check_ident(volatile void *bar0, const char *bdf, char *error, size_t size) {
    uint32_t ident = ((volatile uint32_t *)bar0)[EDU_IDENT / 4];
    if ((ident & 0xff) == 0xed) return 0;
    return fail(error, size, ENODEV, "%s: BAR0 ident reads 0x%08x, not an edu device", bdf, ident);
}

static int edu_open(edu_vfio *edu, const char *bdf, const cbl_edu_options *options, char *error, size_t size) {
    *edu = (edu_vfio){.container = -1, .group = -1, .device = -1, .eventfd = -1, .unmask_fd = -1, .options = *options};
    char link[PATH_MAX], target[PATH_MAX], path[PATH_MAX];
    snprintf(link, sizeof link, "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t length = readlink(link, target, sizeof target - 1);
    if (length < 0) return fail(error, size, errno, "readlink %s (is intel_iommu=on?)", link);
    target[length] = 0;
    snprintf(path, sizeof path, "/dev/vfio/%s", basename(target));

    if ((edu->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC)) < 0) return fail(error, size, errno, "open /dev/vfio/vfio");
    if (ioctl(edu->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) return fail(error, size, EINVAL, "VFIO API version");
    if ((edu->group = open(path, O_RDWR | O_CLOEXEC)) < 0) return fail(error, size, errno, "open %s (is %s bound to vfio-pci?)", path, bdf);
    struct vfio_group_status status = {.argsz = sizeof status};
    if (ioctl(edu->group, VFIO_GROUP_GET_STATUS, &status) != 0) return fail(error, size, errno, "VFIO_GROUP_GET_STATUS");
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) return fail(error, size, EBUSY, "group %s is not viable", path);
    if (ioctl(edu->group, VFIO_GROUP_SET_CONTAINER, &edu->container) != 0) return fail(error, size, errno, "VFIO_GROUP_SET_CONTAINER");
    if (ioctl(edu->container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) != 0) return fail(error, size, errno, "VFIO_SET_IOMMU");
    if ((edu->device = ioctl(edu->group, VFIO_GROUP_GET_DEVICE_FD, bdf)) < 0) return fail(error, size, errno, "VFIO_GROUP_GET_DEVICE_FD %s", bdf);

    struct vfio_region_info bar = {.argsz = sizeof bar, .index = VFIO_PCI_BAR0_REGION_INDEX};
    if (ioctl(edu->device, VFIO_DEVICE_GET_REGION_INFO, &bar) != 0) return fail(error, size, errno, "BAR0 region info");
    void *mapped = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED, edu->device, (off_t)bar.offset);
    if (mapped == MAP_FAILED) return fail(error, size, errno, "mmap BAR0");
    edu->bar0 = mapped;
    edu->bar0_size = bar.size;
    int rc = check_ident(edu->bar0, bdf, error, size);
    if (rc != 0) return rc;

    struct vfio_irq_info info = {.argsz = sizeof info, .index = irq_index(edu)};
    if (ioctl(edu->device, VFIO_DEVICE_GET_IRQ_INFO, &info) != 0) return fail(error, size, errno, "VFIO_DEVICE_GET_IRQ_INFO");
    if (info.count < 1) return fail(error, size, ENODEV, "%s has no %s interrupt", bdf, options->kind == CBL_EDU_MSI ? "MSI" : "INTx");

    // MSI needs Bus Master Enable (the Command register, config offset 4, bit 2).
    struct vfio_region_info config = {.argsz = sizeof config, .index = VFIO_PCI_CONFIG_REGION_INDEX};
    if (ioctl(edu->device, VFIO_DEVICE_GET_REGION_INFO, &config) != 0) return fail(error, size, errno, "config region info");
    uint16_t command;
    if (pread(edu->device, &command, sizeof command, (off_t)config.offset + PCI_COMMAND_OFFSET) != sizeof command) return fail(error, size, errno ? errno : EIO, "read Command");
    if (options->no_bus_master) command &= (uint16_t)~COMMAND_BUS_MASTER;
    else command |= COMMAND_BUS_MASTER;
    if (pwrite(edu->device, &command, sizeof command, (off_t)config.offset + PCI_COMMAND_OFFSET) != sizeof command) return fail(error, size, errno ? errno : EIO, "write Command");

    if ((edu->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) return fail(error, size, errno, "eventfd");
    rc = set_irqs(edu->device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, irq_index(edu), 1, edu->eventfd);
    if (rc != 0) return fail(error, size, rc, "VFIO_DEVICE_SET_IRQS (enable %s)", options->kind == CBL_EDU_MSI ? "MSI" : "INTx");
    if (options->kind == CBL_EDU_INTX && options->unmask_by_eventfd) {
        if ((edu->unmask_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) return fail(error, size, errno, "eventfd");
        rc = set_irqs(edu->device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX, 1, edu->unmask_fd);
        if (rc != 0) return fail(error, size, rc, "register the INTx unmask eventfd");
    }
    cbl_edu_acknowledge(edu->bar0); // start from a quiet device
    return 0;
}

// A raise through edu's register always sets a status bit, so a delivery that finds none
// was not this device's.
static bool acknowledge_hook(void *context, uint32_t vector) {
    (void)vector;
    return cbl_edu_acknowledge(((edu_vfio *)context)->bar0) != 0;
}

// VFIO's loopback trigger signals the eventfd without the device: every delivery is ours,
// and the device is still acknowledged, as an ISR would.
static bool acknowledge_loopback_hook(void *context, uint32_t vector) {
    (void)acknowledge_hook(context, vector);
    return true;
}

static void unmask_hook(void *context, uint32_t vector) {
    (void)vector;
    edu_vfio *edu = context;
    if (edu->unmask_fd >= 0) {
        uint64_t one = 1;
        (void)!write(edu->unmask_fd, &one, sizeof one);
    } else {
        set_irqs(edu->device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX, 1, -1);
    }
}

static int raise_by_loopback(void *context) {
    edu_vfio *edu = context;
    struct vfio_irq_set set = {.argsz = sizeof set, .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                               .index = irq_index(edu), .start = 0, .count = 1};
    return ioctl(edu->device, VFIO_DEVICE_SET_IRQS, &set) == 0 ? 0 : errno;
}

// Starts the receiving thread on `fd` with `hooks`, drives `rounds` round trips
// with `raise` (or stores 1 to edu's raise register when NULL), stops the thread.
static int run_roundtrips(int fd, volatile void *bar0, const cbl_delivery_hooks *hooks, cbl_raise_fn raise,
                          void *raise_context, cbl_probe *probe, uint64_t rounds, uint64_t gap_ns, uint64_t timeout_ns,
                          const cbl_thread_placement *receiver, const cbl_thread_placement *writer, char *error,
                          size_t error_size) {
    cbl_epoll_receiver *running = NULL;
    int rc = cbl_epoll_receiver_start_hooked(&fd, 1, probe, 0, receiver, hooks, &running);
    if (rc != 0) return fail(error, error_size, rc, "start the receiving thread");
    rc = raise != NULL ? cbl_drive_pingpong_raise(probe, raise, raise_context, rounds, gap_ns, timeout_ns, writer)
                       : cbl_drive_pingpong_mmio(probe, bar0, CBL_EDU_RAISE, 1, rounds, gap_ns, timeout_ns, writer);
    if (rc != 0) fail(error, error_size, rc, "round trips (%llu of %llu delivered)",
                      (unsigned long long)cbl_probe_hits(probe), (unsigned long long)rounds);
    cbl_epoll_receiver_stop(running);
    return rc;
}

int cbl_vfio_edu_roundtrip_with(const char *bdf, const cbl_edu_options *options, cbl_probe *probe, uint64_t rounds,
                                uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *receiver,
                                const cbl_thread_placement *writer, char *error, size_t error_size) {
    edu_vfio edu;
    int rc = edu_open(&edu, bdf, options, error, error_size);
    if (rc == 0) {
        cbl_delivery_hooks hooks = {.claim = options->loopback_trigger ? acknowledge_loopback_hook : acknowledge_hook,
                                    .rearm = options->kind == CBL_EDU_INTX ? unmask_hook : NULL,
                                    .context = &edu};
        rc = run_roundtrips(edu.eventfd, edu.bar0, &hooks, options->loopback_trigger ? raise_by_loopback : NULL, &edu,
                            probe, rounds, gap_ns, timeout_ns, receiver, writer, error, error_size);
    }
    edu_close(&edu);
    return rc;
}

int cbl_vfio_edu_roundtrip(const char *bdf, cbl_edu_interrupt kind, cbl_probe *probe, uint64_t rounds,
                           uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *receiver,
                           const cbl_thread_placement *writer, char *error, size_t error_size) {
    cbl_edu_options options = {.kind = kind};
    return cbl_vfio_edu_roundtrip_with(bdf, &options, probe, rounds, gap_ns, timeout_ns, receiver, writer, error, error_size);
}

// --- uio_pci_generic ---------------------------------------------------------------

typedef struct edu_uio {
    int uio_fd, config_fd;
    volatile void *bar0;
    size_t bar0_size;
} edu_uio;

// uio_pci_generic masks INTx by setting Interrupt Disable and has no irqcontrol: clear it.
static int uio_reenable(const edu_uio *edu) {
    uint16_t command;
    if (pread(edu->config_fd, &command, sizeof command, PCI_COMMAND_OFFSET) != sizeof command) return errno ? errno : EIO;
    command &= (uint16_t)~COMMAND_INTX_DISABLE;
    if (pwrite(edu->config_fd, &command, sizeof command, PCI_COMMAND_OFFSET) != sizeof command) return errno ? errno : EIO;
    return 0;
}

static void uio_reenable_hook(void *context, uint32_t vector) {
    (void)vector;
    uio_reenable(context);
}

static bool uio_acknowledge_hook(void *context, uint32_t vector) {
    (void)vector;
    return cbl_edu_acknowledge(((edu_uio *)context)->bar0) != 0;
}

static int uio_open(edu_uio *edu, const char *bdf, char *error, size_t size) {
    *edu = (edu_uio){.uio_fd = -1, .config_fd = -1};
    char path[PATH_MAX], name[NAME_MAX + 1] = "";
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/uio", bdf);
    DIR *directory = opendir(path);
    if (directory == NULL) return fail(error, size, errno, "%s (is %s bound to uio_pci_generic?)", path, bdf);
    for (struct dirent *entry; (entry = readdir(directory)) != NULL;) {
        if (strncmp(entry->d_name, "uio", 3) == 0) snprintf(name, sizeof name, "%s", entry->d_name);
    }
    closedir(directory);
    if (name[0] == 0) return fail(error, size, ENOENT, "no uio device under %s", path);
    snprintf(path, sizeof path, "/dev/%s", name);
    if ((edu->uio_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) return fail(error, size, errno, "open %s", path);
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", bdf);
    if ((edu->config_fd = open(path, O_RDWR | O_CLOEXEC)) < 0) return fail(error, size, errno, "open %s", path);
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource0", bdf);
    int bar_fd = open(path, O_RDWR | O_CLOEXEC);
    if (bar_fd < 0) return fail(error, size, errno, "open %s", path);
    struct stat status;
    if (fstat(bar_fd, &status) != 0) {
        int code = errno;
        close(bar_fd);
        return fail(error, size, code, "stat %s", path);
    }
    void *mapped = mmap(NULL, (size_t)status.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, bar_fd, 0);
    int code = errno;
    close(bar_fd);
    if (mapped == MAP_FAILED) return fail(error, size, code, "mmap %s", path);
    edu->bar0 = mapped;
    edu->bar0_size = (size_t)status.st_size;
    int rc = check_ident(edu->bar0, bdf, error, size);
    if (rc != 0) return rc;
    cbl_edu_acknowledge(edu->bar0);
    rc = uio_reenable(edu);
    return rc == 0 ? 0 : fail(error, size, rc, "re-enable INTx through %s/config", bdf);
}

static void uio_close(edu_uio *edu) {
    if (edu->bar0 != NULL) munmap((void *)edu->bar0, edu->bar0_size);
    if (edu->config_fd >= 0) close(edu->config_fd);
    if (edu->uio_fd >= 0) close(edu->uio_fd);
}

int cbl_uio_edu_roundtrip(const char *bdf, cbl_probe *probe, uint64_t rounds, uint64_t gap_ns, uint64_t timeout_ns,
                          const cbl_thread_placement *receiver, const cbl_thread_placement *writer, char *error,
                          size_t error_size) {
    edu_uio edu;
    int rc = uio_open(&edu, bdf, error, error_size);
    if (rc == 0) {
        cbl_delivery_hooks hooks = {.claim = uio_acknowledge_hook, .rearm = uio_reenable_hook, .context = &edu,
                                    .read_size = sizeof(uint32_t)};
        rc = run_roundtrips(edu.uio_fd, edu.bar0, &hooks, NULL, NULL, probe, rounds, gap_ns, timeout_ns, receiver, writer,
                            error, error_size);
    }
    uio_close(&edu);
    return rc;
}

volatile void *cbl_map_region(int device_fd, uint64_t offset, size_t size) {
    void *mapped = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, device_fd, (off_t)offset);
    return mapped == MAP_FAILED ? NULL : mapped;
}

void cbl_unmap_region(volatile void *base, size_t size) {
    if (base != NULL) munmap((void *)base, size);
}
