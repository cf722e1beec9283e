// VFIO (linux/vfio.h) for Swift: ioctl request numbers and flag macros as
// `extern const`, mirrored structs Swift can allocate on its own, and one ioctl
// wrapper per request (ioctl(2) is variadic, which Swift cannot call).
//
// The mirrored structs are checked against the kernel's with _Static_assert in
// vfio.c, so a header change that moves a field breaks the build, not a rig.
#ifndef CIB_VFIO_H
#define CIB_VFIO_H

#include <stddef.h>
#include <stdint.h>

// MARK: - Constants (macros Swift cannot import)

extern const int CIB_VFIO_API_VERSION;
extern const int CIB_VFIO_TYPE1_IOMMU;
extern const int CIB_VFIO_TYPE1v2_IOMMU;
extern const int CIB_VFIO_NOIOMMU_IOMMU;

extern const uint32_t CIB_VFIO_GROUP_FLAGS_VIABLE;
extern const uint32_t CIB_VFIO_GROUP_FLAGS_CONTAINER_SET;

extern const uint32_t CIB_VFIO_DEVICE_FLAGS_RESET;
extern const uint32_t CIB_VFIO_DEVICE_FLAGS_PCI;

extern const uint32_t CIB_VFIO_REGION_INFO_FLAG_READ;
extern const uint32_t CIB_VFIO_REGION_INFO_FLAG_WRITE;
extern const uint32_t CIB_VFIO_REGION_INFO_FLAG_MMAP;

extern const uint32_t CIB_VFIO_IRQ_INFO_EVENTFD;
extern const uint32_t CIB_VFIO_IRQ_INFO_MASKABLE;
extern const uint32_t CIB_VFIO_IRQ_INFO_AUTOMASKED;
extern const uint32_t CIB_VFIO_IRQ_INFO_NORESIZE;

extern const uint32_t CIB_VFIO_IRQ_SET_DATA_NONE;
extern const uint32_t CIB_VFIO_IRQ_SET_DATA_BOOL;
extern const uint32_t CIB_VFIO_IRQ_SET_DATA_EVENTFD;
extern const uint32_t CIB_VFIO_IRQ_SET_ACTION_MASK;
extern const uint32_t CIB_VFIO_IRQ_SET_ACTION_UNMASK;
extern const uint32_t CIB_VFIO_IRQ_SET_ACTION_TRIGGER;

// vfio-pci's fixed region and IRQ indexes.
extern const uint32_t CIB_VFIO_PCI_BAR0_REGION_INDEX;
extern const uint32_t CIB_VFIO_PCI_CONFIG_REGION_INDEX;
extern const uint32_t CIB_VFIO_PCI_INTX_IRQ_INDEX;
extern const uint32_t CIB_VFIO_PCI_MSI_IRQ_INDEX;
extern const uint32_t CIB_VFIO_PCI_MSIX_IRQ_INDEX;
extern const uint32_t CIB_VFIO_PCI_ERR_IRQ_INDEX;
extern const uint32_t CIB_VFIO_PCI_REQ_IRQ_INDEX;

/// The most sub-indexes one vfio_irq_set may carry (MSI-X allows 2048 vectors).
extern const uint32_t CIB_VFIO_IRQ_SET_MAX_COUNT;

// MARK: - Mirrored structs (same layout as linux/vfio.h; asserted in vfio.c)

typedef struct cib_vfio_group_status {
    uint32_t argsz;
    uint32_t flags;
} cib_vfio_group_status;

typedef struct cib_vfio_device_info {
    uint32_t argsz;
    uint32_t flags;
    uint32_t num_regions;
    uint32_t num_irqs;
    uint32_t cap_offset;
} cib_vfio_device_info;

typedef struct cib_vfio_region_info {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t cap_offset;
    uint64_t size;
    uint64_t offset;
} cib_vfio_region_info;

typedef struct cib_vfio_irq_info {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t count;
} cib_vfio_irq_info;

/// vfio_irq_set without its flexible data array: a whole DATA_NONE request, which
/// a caller repeating one (the loopback trigger) builds once.
typedef struct cib_vfio_irq_set_header {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t start;
    uint32_t count;
} cib_vfio_irq_set_header;

// MARK: - ioctl wrappers (each returns the ioctl's result: -1 with errno set on failure)

int cib_vfio_get_api_version(int container);
int cib_vfio_check_extension(int container, int extension);
int cib_vfio_set_iommu(int container, int iommu_type);

/// Fills `status` (argsz is set here).
int cib_vfio_group_get_status(int group, cib_vfio_group_status *status);
int cib_vfio_group_set_container(int group, int container);
int cib_vfio_group_unset_container(int group);
/// Returns a new device fd for the device named like sysfs names it ("0000:00:03.0").
int cib_vfio_group_get_device_fd(int group, const char *device_name);

int cib_vfio_device_get_info(int device, cib_vfio_device_info *info);
/// `info->index` names the region; the rest is filled in.
int cib_vfio_device_get_region_info(int device, uint32_t index, cib_vfio_region_info *info);
/// `index` names the IRQ index; the rest is filled in.
int cib_vfio_device_get_irq_info(int device, uint32_t index, cib_vfio_irq_info *info);
int cib_vfio_device_reset(int device);

/// VFIO_DEVICE_SET_IRQS, the one place a variable-length vfio_irq_set is built.
///
/// `action` is one of the CIB_VFIO_IRQ_SET_ACTION_* values. With `eventfds`
/// NULL the data type is DATA_NONE (trigger/mask/unmask now, or with count 0
/// and ACTION_TRIGGER: disable the index); otherwise DATA_EVENTFD with `count`
/// descriptors (-1 de-assigns one). The struct is built on the stack, so this
/// never allocates and is safe on the interrupt path. count above
/// CIB_VFIO_IRQ_SET_MAX_COUNT fails with EINVAL.
int cib_vfio_device_set_irqs(int device, uint32_t index, uint32_t action,
                             uint32_t start, uint32_t count, const int32_t *eventfds);

/// VFIO_IOMMU_MAP_DMA on a type-1 container: the device may read and write `size` bytes
/// of this process's memory at `vaddr` through IOVA `iova` (both page-aligned). The kernel
/// pins the pages until they are unmapped or the container closes.
int cib_vfio_iommu_map_dma(int container, uint64_t vaddr, uint64_t iova, uint64_t size);
/// VFIO_IOMMU_UNMAP_DMA of what one map call mapped; `unmapped` receives how many bytes
/// the kernel unmapped (0 when nothing was mapped there).
int cib_vfio_iommu_unmap_dma(int container, uint64_t iova, uint64_t size, uint64_t *unmapped);

/// VFIO_DEVICE_SET_IRQS with a request the caller built once (DATA_NONE: no data
/// follows the header): nothing is built per call, so a raise repeated thousands of
/// times is this ioctl alone (`VFIOLoopbackTrigger`).
int cib_vfio_device_set_irqs_prepared(int device, const cib_vfio_irq_set_header *set);

#endif
