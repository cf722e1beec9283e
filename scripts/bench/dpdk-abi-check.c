// Compiled (never run) by scripts/bench/run.sh --peers against the installed
// DPDK headers: CBaselines loads librte_eal at run time and mirrors the few
// DPDK types and constants it needs (cbl_dpdk_receiver.h), so this file fails
// to compile if the installed DPDK no longer matches the mirror.
// rte_intr_instance_alloc and friends are still "experimental" in 22.11.
#define ALLOW_EXPERIMENTAL_API 1
#include <stddef.h>
#include <rte_eal.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_interrupts.h>
#include <rte_log.h>
#include "cbl_dpdk_receiver.h"

#define SAME_FIELD(a, b, field) \
    _Static_assert(offsetof(a, field) == offsetof(b, field) && sizeof(((a *)0)->field) == sizeof(((b *)0)->field), #field)
#define SAME_TYPE(function, type) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&function), type), #function " has another signature")

_Static_assert(sizeof(struct rte_epoll_event) == sizeof(cbl_rte_epoll_event), "rte_epoll_event size");
SAME_FIELD(struct rte_epoll_event, cbl_rte_epoll_event, status);
SAME_FIELD(struct rte_epoll_event, cbl_rte_epoll_event, fd);
SAME_FIELD(struct rte_epoll_event, cbl_rte_epoll_event, epfd);
SAME_FIELD(struct rte_epoll_event, cbl_rte_epoll_event, epdata);
_Static_assert(sizeof(struct rte_epoll_data) == sizeof(cbl_rte_epoll_data), "rte_epoll_data size");
SAME_FIELD(struct rte_epoll_data, cbl_rte_epoll_data, event);
SAME_FIELD(struct rte_epoll_data, cbl_rte_epoll_data, data);
SAME_FIELD(struct rte_epoll_data, cbl_rte_epoll_data, cb_fun);
SAME_FIELD(struct rte_epoll_data, cbl_rte_epoll_data, cb_arg);

_Static_assert((int)RTE_INTR_HANDLE_EXT == (int)CBL_RTE_INTR_HANDLE_EXT, "RTE_INTR_HANDLE_EXT");
_Static_assert((int)RTE_EPOLL_PER_THREAD == (int)CBL_RTE_EPOLL_PER_THREAD, "RTE_EPOLL_PER_THREAD");
_Static_assert((int)RTE_INTR_INSTANCE_F_PRIVATE == (int)CBL_RTE_INTR_INSTANCE_F_PRIVATE, "RTE_INTR_INSTANCE_F_PRIVATE");

// The signatures dpdk_receiver.c casts dlsym's results to.
SAME_TYPE(rte_eal_init, int (*)(int, char **));
SAME_TYPE(rte_openlog_stream, int (*)(FILE *));
SAME_TYPE(rte_strerror, const char *(*)(int));
SAME_TYPE(rte_intr_instance_alloc, struct rte_intr_handle *(*)(uint32_t));
SAME_TYPE(rte_intr_instance_free, void (*)(struct rte_intr_handle *));
SAME_TYPE(rte_intr_fd_set, int (*)(struct rte_intr_handle *, int));
SAME_TYPE(rte_intr_type_set, int (*)(struct rte_intr_handle *, enum rte_intr_handle_type));
SAME_TYPE(rte_intr_callback_register, int (*)(const struct rte_intr_handle *, rte_intr_callback_fn, void *));
SAME_TYPE(rte_intr_callback_unregister_sync, int (*)(const struct rte_intr_handle *, rte_intr_callback_fn, void *));
SAME_TYPE(rte_epoll_ctl, int (*)(int, int, int, struct rte_epoll_event *));
SAME_TYPE(rte_epoll_wait, int (*)(int, struct rte_epoll_event *, int, int));
SAME_TYPE(rte_intr_tls_epfd, int (*)(void));
_Static_assert(sizeof(enum rte_intr_handle_type) == sizeof(int), "rte_intr_type_set's enum is passed as an int");
_Static_assert(__builtin_types_compatible_p(__typeof__(RTE_PER_LCORE(_rte_errno)), int), "rte_errno is an int");
