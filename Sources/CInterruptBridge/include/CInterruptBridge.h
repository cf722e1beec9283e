// CInterruptBridge: the thin C shim at the edge of InterruptBridge.
//
// Only what Swift cannot do itself lives here: macros that Swift cannot import
// (ioctl request numbers, exported as `extern const`), variadic calls (ioctl),
// headers Glibc's module map does not expose (<sys/eventfd.h>, <linux/vfio.h>),
// and libpci entry points that take C callbacks. Every symbol is prefixed `cib_`.
// One header per kernel facility; this umbrella includes them all.
#ifndef CINTERRUPTBRIDGE_H
#define CINTERRUPTBRIDGE_H

#include "cib_eventfd.h"
#include "cib_pci.h"
#include "cib_udev.h"
#include "cib_vfio.h"
#include "cib_mmio.h"
#include "cib_thread.h"
#include "cib_clock.h"
#include "cib_file.h"
#include "cib_cache.h"

#endif
