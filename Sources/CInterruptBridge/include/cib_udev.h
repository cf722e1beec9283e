// udev: shim declarations (owned by the udev work; see the umbrella header for the rules).
#ifndef CIB_UDEV_H
#define CIB_UDEV_H

#endif
