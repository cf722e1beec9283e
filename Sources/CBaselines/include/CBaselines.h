// CBaselines: the C programs InterruptBridge's benchmarks hold the bridge against.
//
// Why this target exists: issue 5 asks for every bridge figure to be printed
// beside the figure of a minimal C program doing the same work with raw eventfd
// + epoll, in the same run. To keep the ratio honest, the two sides share
// everything but the receiver: the same writer thread (cbl_driver.h), the same
// probe that an ISR or the C waiter calls on each delivery (cbl_probe.h), and
// the same thread placement. Issue 13 adds peers users would pick instead
// (DPDK's interrupt paths, loaded at run time) and CPU-burning load threads.
// Every symbol is prefixed `cbl_`.
#ifndef CBASELINES_H
#define CBASELINES_H

#include "cbl_probe.h"
#include "cbl_driver.h"
#include "cbl_epoll_receiver.h"
#include "cbl_vfio_edu.h"
#include "cbl_dpdk_receiver.h"
#include "cbl_load.h"
#include "cbl_epoll_register.h"

#endif
