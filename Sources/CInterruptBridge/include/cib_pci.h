// pci: shim declarations (owned by the pci work; see the umbrella header for the rules).
#ifndef CIB_PCI_H
#define CIB_PCI_H

#endif
