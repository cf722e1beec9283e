// Why this file exists: libpci's error callback is variadic and, by default,
// exits the process; Swift can implement neither. Each entry point here runs
// libpci under a guard whose handler formats the message into the caller's
// buffer and longjmps back, so every libpci failure (pci_init, the dump-file
// parser, pci_fill_info) becomes an error string instead of an exit.
// pci_lookup_name (variadic) and the PCI_FILL_* macros are wrapped here too.
#include "cib_pci.h"

#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int CIB_PCI_FILL_IDENT = PCI_FILL_IDENT;
const int CIB_PCI_FILL_IRQ = PCI_FILL_IRQ;
const int CIB_PCI_FILL_BASES = PCI_FILL_BASES;
const int CIB_PCI_FILL_SIZES = PCI_FILL_SIZES;
const int CIB_PCI_FILL_CLASS = PCI_FILL_CLASS;
const int CIB_PCI_FILL_CAPS = PCI_FILL_CAPS;
const int CIB_PCI_FILL_EXT_CAPS = PCI_FILL_EXT_CAPS;
const int CIB_PCI_FILL_IO_FLAGS = PCI_FILL_IO_FLAGS;
const int CIB_PCI_FILL_IOMMU_GROUP = PCI_FILL_IOMMU_GROUP;
const int CIB_PCI_FILL_CLASS_EXT = PCI_FILL_CLASS_EXT;
const int CIB_PCI_FILL_SUBSYS = PCI_FILL_SUBSYS;
const int CIB_PCI_FILL_DRIVER = PCI_FILL_DRIVER;
const uint64_t CIB_PCI_ADDR_FLAG_MASK = PCI_ADDR_FLAG_MASK;

_Static_assert(sizeof(pciaddr_t) == sizeof(uint64_t), "cib_pci_function mirrors pciaddr_t as uint64_t");

struct cib_pci {
    struct pci_access *access;
    struct pci_dev **devices;
    int count;
};

/// The guard of the entry point running on this thread. libpci's callbacks
/// carry no context, so the handler finds its way back through this.
struct cib_pci_guard {
    jmp_buf resume;
    char *message;
    size_t length;
};
static _Thread_local struct cib_pci_guard *cib_pci_current_guard;

__attribute__((noreturn, format(printf, 1, 2)))
static void cib_pci_on_error(char *format, ...) {
    struct cib_pci_guard *guard = cib_pci_current_guard;
    va_list arguments;
    va_start(arguments, format);
    if (guard == NULL) {
        // Unreachable by construction: every libpci call below is guarded.
        vfprintf(stderr, format, arguments);
        va_end(arguments);
        abort();
    }
    if (guard->message != NULL && guard->length > 0)
        vsnprintf(guard->message, guard->length, format, arguments);
    va_end(arguments);
    longjmp(guard->resume, 1);
}

// Warnings (a missing pci.ids, an unreadable sysfs attribute) are not failures:
// what they would report surfaces as absent data, which callers already handle.
static void cib_pci_on_warning(char *format, ...) { (void)format; }
static void cib_pci_on_debug(char *format, ...) { (void)format; }

static void cib_pci_release(cib_pci *pci) {
    if (pci->access != NULL) {
        struct cib_pci_guard guard = { .message = NULL, .length = 0 };
        struct cib_pci_guard *outer = cib_pci_current_guard;
        cib_pci_current_guard = &guard;
        if (setjmp(guard.resume) == 0)
            pci_cleanup(pci->access);
        cib_pci_current_guard = outer;
    }
    free(pci->devices);
    free(pci);
}

cib_pci *cib_pci_open(const char *dump_path, char *error, size_t error_length) {
    cib_pci *pci = calloc(1, sizeof *pci);
    if (pci == NULL) {
        snprintf(error, error_length, "out of memory");
        return NULL;
    }
    struct cib_pci_guard guard = { .message = error, .length = error_length };
    struct cib_pci_guard *outer = cib_pci_current_guard;
    cib_pci_current_guard = &guard;
    if (setjmp(guard.resume) != 0) {
        cib_pci_current_guard = outer;
        cib_pci_release(pci);
        return NULL;
    }
    pci->access = pci_alloc();
    pci->access->error = cib_pci_on_error;
    pci->access->warning = cib_pci_on_warning;
    pci->access->debug = cib_pci_on_debug;
    if (dump_path != NULL) {
        pci->access->method = PCI_ACCESS_DUMP;
        pci_set_param(pci->access, "dump.name", (char *)dump_path);
    }
    pci_init(pci->access);
    pci_scan_bus(pci->access);
    for (struct pci_dev *device = pci->access->devices; device != NULL; device = device->next)
        pci->count++;
    pci->devices = calloc(pci->count > 0 ? (size_t)pci->count : 1, sizeof *pci->devices);
    if (pci->devices == NULL)
        cib_pci_on_error("out of memory");
    int index = 0;
    for (struct pci_dev *device = pci->access->devices; device != NULL; device = device->next)
        pci->devices[index++] = device;
    cib_pci_current_guard = outer;
    return pci;
}

void cib_pci_close(cib_pci *pci) {
    if (pci != NULL)
        cib_pci_release(pci);
}

int cib_pci_count(const cib_pci *pci) { return pci->count; }

int cib_pci_index_of(const cib_pci *pci, int domain, int bus, int device, int function) {
    for (int index = 0; index < pci->count; index++) {
        const struct pci_dev *candidate = pci->devices[index];
        if (candidate->domain == domain && candidate->bus == bus && candidate->dev == device && candidate->func == function)
            return index;
    }
    return -1;
}

/// Reads as much config space as the access method provides: 4096 bytes
/// (extended), 256, 64, or for a truncated dump whatever prefix exists.
static uint32_t cib_pci_read_config(struct pci_dev *device, uint8_t *config) {
    static const int sizes[] = { 4096, 256, 64 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (pci_read_block(device, 0, config, sizes[i]))
            return (uint32_t)sizes[i];
    uint32_t length = 0;
    while (length < 64 && pci_read_block(device, (int)length, config + length, 1))
        length++;
    return length;
}

int cib_pci_describe(cib_pci *pci, int index, cib_pci_function *out, char *error, size_t error_length) {
    if (index < 0 || index >= pci->count) {
        snprintf(error, error_length, "no device at index %d", index);
        return -1;
    }
    struct pci_dev *device = pci->devices[index];
    struct cib_pci_guard guard = { .message = error, .length = error_length };
    struct cib_pci_guard *outer = cib_pci_current_guard;
    cib_pci_current_guard = &guard;
    if (setjmp(guard.resume) != 0) {
        cib_pci_current_guard = outer;
        return -1;
    }
    memset(out, 0, sizeof *out);
    int known = pci_fill_info(device, PCI_FILL_IDENT | PCI_FILL_IRQ | PCI_FILL_BASES | PCI_FILL_SIZES | PCI_FILL_CLASS
                                      | PCI_FILL_CAPS | PCI_FILL_EXT_CAPS | PCI_FILL_IO_FLAGS | PCI_FILL_IOMMU_GROUP
                                      | PCI_FILL_CLASS_EXT | PCI_FILL_SUBSYS | PCI_FILL_DRIVER);
    out->domain = device->domain;
    out->bus = device->bus;
    out->device = device->dev;
    out->function = device->func;
    out->vendor_id = device->vendor_id;
    out->device_id = device->device_id;
    if (known & PCI_FILL_SUBSYS) {
        out->has_subsystem = 1;
        out->subsystem_vendor_id = device->subsys_vendor_id;
        out->subsystem_id = device->subsys_id;
    }
    out->device_class = device->device_class;
    out->prog_if = device->prog_if;
    out->revision = device->rev_id;
    out->irq = device->irq;
    for (int i = 0; i < 6; i++) {
        out->base_addr[i] = device->base_addr[i];
        out->size[i] = device->size[i];
    }
    out->sizes_known = (known & PCI_FILL_SIZES) != 0;
    const char *driver = pci_get_string_property(device, PCI_FILL_DRIVER);
    if (driver != NULL)
        snprintf(out->driver, sizeof out->driver, "%s", driver);
    const char *group = pci_get_string_property(device, PCI_FILL_IOMMU_GROUP);
    if (group != NULL)
        snprintf(out->iommu_group, sizeof out->iommu_group, "%s", group);
    out->config_length = cib_pci_read_config(device, out->config);
    cib_pci_current_guard = outer;
    return 0;
}

/// pci_lookup_name under a guard; -1 when the database has no entry.
static int cib_pci_lookup(cib_pci *pci, char *buffer, size_t length, int flags, int first, int second) {
    struct cib_pci_guard guard = { .message = NULL, .length = 0 };
    struct cib_pci_guard *outer = cib_pci_current_guard;
    cib_pci_current_guard = &guard;
    if (setjmp(guard.resume) != 0) {
        cib_pci_current_guard = outer;
        return -1;
    }
    char *name = pci_lookup_name(pci->access, buffer, (int)length, flags | PCI_LOOKUP_NO_NUMBERS, first, second);
    cib_pci_current_guard = outer;
    return name != NULL ? 0 : -1;
}

int cib_pci_vendor_name(cib_pci *pci, uint16_t vendor_id, char *buffer, size_t length) {
    return cib_pci_lookup(pci, buffer, length, PCI_LOOKUP_VENDOR, vendor_id, 0);
}

int cib_pci_device_name(cib_pci *pci, uint16_t vendor_id, uint16_t device_id, char *buffer, size_t length) {
    return cib_pci_lookup(pci, buffer, length, PCI_LOOKUP_DEVICE, vendor_id, device_id);
}

int cib_pci_class_name(cib_pci *pci, uint16_t device_class, char *buffer, size_t length) {
    return cib_pci_lookup(pci, buffer, length, PCI_LOOKUP_CLASS, device_class, 0);
}
