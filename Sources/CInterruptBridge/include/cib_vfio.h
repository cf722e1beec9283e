// vfio: shim declarations (owned by the vfio work; see the umbrella header for the rules).
#ifndef CIB_VFIO_H
#define CIB_VFIO_H

#endif
