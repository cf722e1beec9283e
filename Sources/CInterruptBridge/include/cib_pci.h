// libpci: the pieces Swift cannot use directly.
//
// Why this shim exists: libpci reports errors through `pacc->error`, a variadic
// callback whose default implementation prints and EXITS the process, and it
// has no per-call context. Swift can neither implement a C variadic callback
// nor recover from a non-returning one. Every entry point below therefore runs
// libpci under a guard: the installed handler formats the message into the
// caller's buffer and longjmps back to the entry point, which returns failure.
// pci_lookup_name is variadic too, and PCI_FILL_* are macros.
#ifndef CIB_PCI_H
#define CIB_PCI_H

#include <stddef.h>
#include <stdint.h>

/// libpci's pci_fill_info flags (macros in <pci/pci.h>).
extern const int CIB_PCI_FILL_IDENT;
extern const int CIB_PCI_FILL_IRQ;
extern const int CIB_PCI_FILL_BASES;
extern const int CIB_PCI_FILL_SIZES;
extern const int CIB_PCI_FILL_CLASS;
extern const int CIB_PCI_FILL_CAPS;
extern const int CIB_PCI_FILL_EXT_CAPS;
extern const int CIB_PCI_FILL_IO_FLAGS;
extern const int CIB_PCI_FILL_IOMMU_GROUP;
extern const int CIB_PCI_FILL_CLASS_EXT;
extern const int CIB_PCI_FILL_SUBSYS;
extern const int CIB_PCI_FILL_DRIVER;
/// Low bits of a base address that carry the BAR's flags (PCI_ADDR_FLAG_MASK).
extern const uint64_t CIB_PCI_ADDR_FLAG_MASK;

/// An open libpci access handle (wraps struct pci_access). Not thread-safe:
/// use one handle from one thread at a time.
typedef struct cib_pci cib_pci;

/// What libpci knows about one function, flattened so Swift needs no libpci types.
typedef struct cib_pci_function {
    int32_t domain;
    uint8_t bus, device, function;
    uint16_t vendor_id, device_id;
    uint16_t subsystem_vendor_id, subsystem_id;   // 0 when unknown
    int32_t has_subsystem;
    uint16_t device_class;                         // base class << 8 | subclass
    uint8_t prog_if, revision;
    int32_t irq;                                   // routed IRQ as libpci reports it
    uint64_t base_addr[6];                         // including flag bits (CIB_PCI_ADDR_FLAG_MASK)
    uint64_t size[6];                              // 0 when unknown (dump files)
    int32_t sizes_known;
    char driver[64];                               // "" when unbound or unknown
    char iommu_group[32];                          // "" when none
    uint32_t config_length;                        // bytes of config space readable: 0, 64, 256, 4096 or less
    uint8_t config[4096];
} cib_pci_function;

/// Opens libpci on the live system (dump_path == NULL) or on an `lspci -x`
/// style dump file, and scans the bus. Returns NULL with `error` filled on failure.
cib_pci *cib_pci_open(const char *dump_path, char *error, size_t error_length);

/// Frees the handle and every device it scanned.
void cib_pci_close(cib_pci *pci);

/// Number of functions the scan found.
int cib_pci_count(const cib_pci *pci);

/// The scan index of the function at DOMAIN:BUS:DEVICE.FUNCTION, or -1 when the scan
/// did not find it. Reads nothing beyond what the scan read (no config space).
int cib_pci_index_of(const cib_pci *pci, int domain, int bus, int device, int function);

/// Fills `out` for the function at `index` (scan order). Returns 0, or -1 with
/// `error` filled when libpci fails.
int cib_pci_describe(cib_pci *pci, int index, cib_pci_function *out, char *error, size_t error_length);

/// Names from the pci.ids database (or udev's hwdb). Return 0 and fill `buffer`
/// when known, -1 when the database has no entry.
int cib_pci_vendor_name(cib_pci *pci, uint16_t vendor_id, char *buffer, size_t length);
int cib_pci_device_name(cib_pci *pci, uint16_t vendor_id, uint16_t device_id, char *buffer, size_t length);
int cib_pci_class_name(cib_pci *pci, uint16_t device_class, char *buffer, size_t length);

#endif
