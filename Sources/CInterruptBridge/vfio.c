// Why this file exists: linux/vfio.h is made of macros (ioctl request numbers,
// flags) that Swift cannot import, its vfio_irq_set ends in a flexible array
// Swift cannot build, and ioctl(2) is variadic, which Swift cannot call. The DMA
// map and unmap requests are built here too, so their structs need no mirror.
#include "cib_vfio.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

const int CIB_VFIO_API_VERSION = VFIO_API_VERSION;
const int CIB_VFIO_TYPE1_IOMMU = VFIO_TYPE1_IOMMU;
const int CIB_VFIO_TYPE1v2_IOMMU = VFIO_TYPE1v2_IOMMU;
const int CIB_VFIO_NOIOMMU_IOMMU = VFIO_NOIOMMU_IOMMU;

const uint32_t CIB_VFIO_GROUP_FLAGS_VIABLE = VFIO_GROUP_FLAGS_VIABLE;
const uint32_t CIB_VFIO_GROUP_FLAGS_CONTAINER_SET = VFIO_GROUP_FLAGS_CONTAINER_SET;

const uint32_t CIB_VFIO_DEVICE_FLAGS_RESET = VFIO_DEVICE_FLAGS_RESET;
const uint32_t CIB_VFIO_DEVICE_FLAGS_PCI = VFIO_DEVICE_FLAGS_PCI;

const uint32_t CIB_VFIO_REGION_INFO_FLAG_READ = VFIO_REGION_INFO_FLAG_READ;
const uint32_t CIB_VFIO_REGION_INFO_FLAG_WRITE = VFIO_REGION_INFO_FLAG_WRITE;
const uint32_t CIB_VFIO_REGION_INFO_FLAG_MMAP = VFIO_REGION_INFO_FLAG_MMAP;

const uint32_t CIB_VFIO_IRQ_INFO_EVENTFD = VFIO_IRQ_INFO_EVENTFD;
const uint32_t CIB_VFIO_IRQ_INFO_MASKABLE = VFIO_IRQ_INFO_MASKABLE;
const uint32_t CIB_VFIO_IRQ_INFO_AUTOMASKED = VFIO_IRQ_INFO_AUTOMASKED;
const uint32_t CIB_VFIO_IRQ_INFO_NORESIZE = VFIO_IRQ_INFO_NORESIZE;

const uint32_t CIB_VFIO_IRQ_SET_DATA_NONE = VFIO_IRQ_SET_DATA_NONE;
const uint32_t CIB_VFIO_IRQ_SET_DATA_BOOL = VFIO_IRQ_SET_DATA_BOOL;
const uint32_t CIB_VFIO_IRQ_SET_DATA_EVENTFD = VFIO_IRQ_SET_DATA_EVENTFD;
const uint32_t CIB_VFIO_IRQ_SET_ACTION_MASK = VFIO_IRQ_SET_ACTION_MASK;
const uint32_t CIB_VFIO_IRQ_SET_ACTION_UNMASK = VFIO_IRQ_SET_ACTION_UNMASK;
const uint32_t CIB_VFIO_IRQ_SET_ACTION_TRIGGER = VFIO_IRQ_SET_ACTION_TRIGGER;

const uint32_t CIB_VFIO_PCI_BAR0_REGION_INDEX = VFIO_PCI_BAR0_REGION_INDEX;
const uint32_t CIB_VFIO_PCI_CONFIG_REGION_INDEX = VFIO_PCI_CONFIG_REGION_INDEX;
const uint32_t CIB_VFIO_PCI_INTX_IRQ_INDEX = VFIO_PCI_INTX_IRQ_INDEX;
const uint32_t CIB_VFIO_PCI_MSI_IRQ_INDEX = VFIO_PCI_MSI_IRQ_INDEX;
const uint32_t CIB_VFIO_PCI_MSIX_IRQ_INDEX = VFIO_PCI_MSIX_IRQ_INDEX;
const uint32_t CIB_VFIO_PCI_ERR_IRQ_INDEX = VFIO_PCI_ERR_IRQ_INDEX;
const uint32_t CIB_VFIO_PCI_REQ_IRQ_INDEX = VFIO_PCI_REQ_IRQ_INDEX;

#define CIB_IRQ_SET_MAX 2048
const uint32_t CIB_VFIO_IRQ_SET_MAX_COUNT = CIB_IRQ_SET_MAX;

// The mirrors must match the kernel's structs field for field.
#define CIB_SAME_FIELD(mirror, kernel, field)                                   \
    _Static_assert(offsetof(mirror, field) == offsetof(struct kernel, field),   \
                   #mirror "." #field " moved in linux/vfio.h")
_Static_assert(sizeof(cib_vfio_group_status) == sizeof(struct vfio_group_status), "vfio_group_status size");
CIB_SAME_FIELD(cib_vfio_group_status, vfio_group_status, flags);
_Static_assert(sizeof(cib_vfio_device_info) == sizeof(struct vfio_device_info), "vfio_device_info size");
CIB_SAME_FIELD(cib_vfio_device_info, vfio_device_info, num_regions);
CIB_SAME_FIELD(cib_vfio_device_info, vfio_device_info, num_irqs);
CIB_SAME_FIELD(cib_vfio_device_info, vfio_device_info, cap_offset);
_Static_assert(sizeof(cib_vfio_region_info) == sizeof(struct vfio_region_info), "vfio_region_info size");
CIB_SAME_FIELD(cib_vfio_region_info, vfio_region_info, index);
CIB_SAME_FIELD(cib_vfio_region_info, vfio_region_info, size);
CIB_SAME_FIELD(cib_vfio_region_info, vfio_region_info, offset);
_Static_assert(sizeof(cib_vfio_irq_info) == sizeof(struct vfio_irq_info), "vfio_irq_info size");
CIB_SAME_FIELD(cib_vfio_irq_info, vfio_irq_info, index);
CIB_SAME_FIELD(cib_vfio_irq_info, vfio_irq_info, count);
_Static_assert(sizeof(struct vfio_irq_set) == 20, "vfio_irq_set header is five u32s");
_Static_assert(sizeof(cib_vfio_irq_set_header) == sizeof(struct vfio_irq_set), "vfio_irq_set header size");
CIB_SAME_FIELD(cib_vfio_irq_set_header, vfio_irq_set, argsz);
CIB_SAME_FIELD(cib_vfio_irq_set_header, vfio_irq_set, flags);
CIB_SAME_FIELD(cib_vfio_irq_set_header, vfio_irq_set, index);
CIB_SAME_FIELD(cib_vfio_irq_set_header, vfio_irq_set, start);
CIB_SAME_FIELD(cib_vfio_irq_set_header, vfio_irq_set, count);

int cib_vfio_get_api_version(int container) { return ioctl(container, VFIO_GET_API_VERSION); }

int cib_vfio_check_extension(int container, int extension) {
    return ioctl(container, VFIO_CHECK_EXTENSION, extension);
}

int cib_vfio_set_iommu(int container, int iommu_type) { return ioctl(container, VFIO_SET_IOMMU, iommu_type); }

int cib_vfio_group_get_status(int group, cib_vfio_group_status *status) {
    memset(status, 0, sizeof *status);
    status->argsz = sizeof *status;
    return ioctl(group, VFIO_GROUP_GET_STATUS, status);
}

int cib_vfio_group_set_container(int group, int container) {
    return ioctl(group, VFIO_GROUP_SET_CONTAINER, &container);
}

int cib_vfio_group_unset_container(int group) { return ioctl(group, VFIO_GROUP_UNSET_CONTAINER); }

int cib_vfio_group_get_device_fd(int group, const char *device_name) {
    return ioctl(group, VFIO_GROUP_GET_DEVICE_FD, device_name);
}

int cib_vfio_device_get_info(int device, cib_vfio_device_info *info) {
    memset(info, 0, sizeof *info);
    info->argsz = sizeof *info;
    return ioctl(device, VFIO_DEVICE_GET_INFO, info);
}

int cib_vfio_device_get_region_info(int device, uint32_t index, cib_vfio_region_info *info) {
    memset(info, 0, sizeof *info);
    info->argsz = sizeof *info;
    info->index = index;
    return ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info);
}

int cib_vfio_device_get_irq_info(int device, uint32_t index, cib_vfio_irq_info *info) {
    memset(info, 0, sizeof *info);
    info->argsz = sizeof *info;
    info->index = index;
    return ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, info);
}

int cib_vfio_device_reset(int device) { return ioctl(device, VFIO_DEVICE_RESET); }

int cib_vfio_device_set_irqs(int device, uint32_t index, uint32_t action,
                             uint32_t start, uint32_t count, const int32_t *eventfds) {
    if (count > CIB_IRQ_SET_MAX || (action & ~(uint32_t)VFIO_IRQ_SET_ACTION_TYPE_MASK) != 0) {
        errno = EINVAL;
        return -1;
    }
    // Header and the largest eventfd array on the stack (8 KiB): no allocation,
    // so the unmask path can use it.
    union {
        struct vfio_irq_set set;
        unsigned char bytes[sizeof(struct vfio_irq_set) + CIB_IRQ_SET_MAX * sizeof(int32_t)];
    } buffer;
    size_t data_size = eventfds ? (size_t)count * sizeof(int32_t) : 0;
    buffer.set.argsz = (uint32_t)(sizeof(struct vfio_irq_set) + data_size);
    buffer.set.flags = action | (eventfds ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
    buffer.set.index = index;
    buffer.set.start = start;
    buffer.set.count = count;
    if (data_size) memcpy(buffer.set.data, eventfds, data_size);
    return ioctl(device, VFIO_DEVICE_SET_IRQS, &buffer.set);
}

int cib_vfio_device_set_irqs_prepared(int device, const cib_vfio_irq_set_header *set) {
    return ioctl(device, VFIO_DEVICE_SET_IRQS, set);
}

int cib_vfio_iommu_map_dma(int container, uint64_t vaddr, uint64_t iova, uint64_t size) {
    struct vfio_iommu_type1_dma_map map;
    memset(&map, 0, sizeof map);
    map.argsz = sizeof map;
    map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    map.vaddr = vaddr;
    map.iova = iova;
    map.size = size;
    return ioctl(container, VFIO_IOMMU_MAP_DMA, &map);
}

int cib_vfio_iommu_unmap_dma(int container, uint64_t iova, uint64_t size, uint64_t *unmapped) {
    struct vfio_iommu_type1_dma_unmap unmap;
    memset(&unmap, 0, sizeof unmap);
    unmap.argsz = sizeof unmap;
    unmap.iova = iova;
    unmap.size = size;
    int result = ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap);
    if (result == 0 && unmapped) *unmapped = unmap.size;
    return result;
}
