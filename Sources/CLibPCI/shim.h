#ifndef CLIBPCI_SHIM_H
#define CLIBPCI_SHIM_H
#include <pci/pci.h>
#endif
