// Discovery and binding: every PCI function with its capabilities and CM resources (libpci, libudev), and moving functions between drivers through sysfs.
