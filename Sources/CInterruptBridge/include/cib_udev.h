// udev: libudev needs no shim. Its API has no macros, variadic functions or
// callbacks that Swift cannot handle, so InterruptBridgeSystem calls it
// directly through the CLibUDev system-library module (UDev*.swift).
// This header stays so the umbrella keeps one header per facility.
#ifndef CIB_UDEV_H
#define CIB_UDEV_H

#endif
