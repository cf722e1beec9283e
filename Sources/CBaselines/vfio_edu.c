// Why this file exists: the bridge's VFIO round trip must be held against a C
// loop doing the same with raw VFIO ioctls in the same boot (issue 5). The loop
// is deliberately plain: no error recovery beyond closing what it opened.
#define _GNU_SOURCE
#include "cbl_vfio_edu.h"
#include "cbl_epoll_receiver.h"
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
#include <unistd.h>

const uint32_t CBL_EDU_RAISE = 0x60;
const uint32_t CBL_EDU_STATUS = 0x24;
const uint32_t CBL_EDU_ACKNOWLEDGE = 0x64;

uint32_t cbl_edu_acknowledge(volatile void *bar0) {
    volatile uint32_t *registers = bar0;
    uint32_t status = registers[0x24 / 4];
    if (status != 0) registers[0x64 / 4] = status;
    return status;
}

typedef struct edu_vfio {
    int container, group, device, eventfd;
    volatile void *bar0;
    size_t bar0_size;
    cbl_edu_interrupt kind;
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
    if (edu->device >= 0) {
        uint32_t index = edu->kind == CBL_EDU_MSI ? VFIO_PCI_MSI_IRQ_INDEX : VFIO_PCI_INTX_IRQ_INDEX;
        set_irqs(edu->device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, -1);
    }
    if (edu->bar0 != NULL) munmap((void *)edu->bar0, edu->bar0_size);
    if (edu->eventfd >= 0) close(edu->eventfd);
    if (edu->device >= 0) close(edu->device);
    if (edu->group >= 0) close(edu->group);
    if (edu->container >= 0) close(edu->container);
}

static int edu_open(edu_vfio *edu, const char *bdf, cbl_edu_interrupt kind, char *error, size_t size) {
    *edu = (edu_vfio){.container = -1, .group = -1, .device = -1, .eventfd = -1, .kind = kind};
    char link[PATH_MAX], target[PATH_MAX], path[PATH_MAX];
    snprintf(link, sizeof link, "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t length = readlink(link, target, sizeof target - 1);
    if (length < 0) return fail(error, size, errno, "readlink %s", link);
    target[length] = 0;
    snprintf(path, sizeof path, "/dev/vfio/%s", basename(target));

    if ((edu->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC)) < 0) return fail(error, size, errno, "open /dev/vfio/vfio");
    if (ioctl(edu->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) return fail(error, size, EINVAL, "VFIO API version");
    if ((edu->group = open(path, O_RDWR | O_CLOEXEC)) < 0) return fail(error, size, errno, "open %s", path);
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

    // MSI needs Bus Master Enable (the Command register, config offset 4, bit 2).
    struct vfio_region_info config = {.argsz = sizeof config, .index = VFIO_PCI_CONFIG_REGION_INDEX};
    if (ioctl(edu->device, VFIO_DEVICE_GET_REGION_INFO, &config) != 0) return fail(error, size, errno, "config region info");
    uint16_t command;
    if (pread(edu->device, &command, sizeof command, (off_t)config.offset + 4) != sizeof command) return fail(error, size, errno ? errno : EIO, "read Command");
    command |= 1u << 2;
    if (pwrite(edu->device, &command, sizeof command, (off_t)config.offset + 4) != sizeof command) return fail(error, size, errno ? errno : EIO, "write Command");

    if ((edu->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) return fail(error, size, errno, "eventfd");
    uint32_t index = kind == CBL_EDU_MSI ? VFIO_PCI_MSI_IRQ_INDEX : VFIO_PCI_INTX_IRQ_INDEX;
    int rc = set_irqs(edu->device, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, 1, edu->eventfd);
    if (rc != 0) return fail(error, size, rc, "VFIO_DEVICE_SET_IRQS (enable %s)", kind == CBL_EDU_MSI ? "MSI" : "INTx");
    cbl_edu_acknowledge(edu->bar0); // start from a quiet device
    return 0;
}

static void acknowledge_hook(void *context, uint32_t vector) {
    (void)vector;
    cbl_edu_acknowledge(((edu_vfio *)context)->bar0);
}

static void unmask_hook(void *context, uint32_t vector) {
    (void)vector;
    edu_vfio *edu = context;
    set_irqs(edu->device, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX, 1, -1);
}

int cbl_vfio_edu_roundtrip(const char *bdf, cbl_edu_interrupt kind, cbl_probe *probe, uint64_t rounds,
                           uint64_t gap_ns, uint64_t timeout_ns, const cbl_thread_placement *receiver,
                           const cbl_thread_placement *writer, char *error, size_t error_size) {
    edu_vfio edu;
    int rc = edu_open(&edu, bdf, kind, error, error_size);
    if (rc != 0) {
        edu_close(&edu);
        return rc;
    }
    cbl_delivery_hooks hooks = {.before_hit = acknowledge_hook,
                                .after_hit = kind == CBL_EDU_INTX ? unmask_hook : NULL,
                                .context = &edu};
    cbl_epoll_receiver *running = NULL;
    rc = cbl_epoll_receiver_start_hooked(&edu.eventfd, 1, probe, 0, receiver, &hooks, &running);
    if (rc != 0) {
        fail(error, error_size, rc, "start the receiving thread");
    } else {
        rc = cbl_drive_pingpong_mmio(probe, edu.bar0, CBL_EDU_RAISE, 1, rounds, gap_ns, timeout_ns, writer);
        if (rc != 0) fail(error, error_size, rc, "round trips (%llu of %llu delivered)",
                          (unsigned long long)cbl_probe_hits(probe), (unsigned long long)rounds);
        cbl_epoll_receiver_stop(running);
    }
    edu_close(&edu);
    return rc;
}

volatile void *cbl_map_region(int device_fd, uint64_t offset, size_t size) {
    void *mapped = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, device_fd, (off_t)offset);
    return mapped == MAP_FAILED ? NULL : mapped;
}

void cbl_unmap_region(volatile void *base, size_t size) {
    if (base != NULL) munmap((void *)base, size);
}
