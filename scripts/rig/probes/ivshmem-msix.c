/*
 * ivshmem-msix: proves every MSI-X vector of QEMU's ivshmem-doorbell device reaches user
 * space through VFIO, on the vector it was sent to.
 *
 * The guest rings its own doorbell: BAR0 offset 12 (Doorbell) = (own peer ID << 16) | vector,
 * the own ID being BAR0 offset 8 (IVPosition, assigned by the host's ivshmem server). QEMU
 * then writes the eventfd the server gave it for that vector and raises that MSI-X vector.
 *
 * Each round rings every vector in turn and waits for exactly that vector's eventfd; an
 * interrupt on any other vector is counted as misrouted. Latency is doorbell write ->
 * eventfd read.
 *
 * Output: per vector one "RESULT name=ivshmem-msix-vN ..." line, then a total line.
 * Exit status: 0 when every vector got every interrupt and nothing was misrouted, 1
 * otherwise, 2 on setup errors.
 */
#include "probe-common.h"

#include <getopt.h>

enum { IVSHMEM_IV_POSITION = 0x08, IVSHMEM_DOORBELL = 0x0c };
enum { WAIT_MS = 1000, MAX_VECTORS = 1024, GIVE_UP_AFTER_MISSES = 5 };

int main(int argc, char **argv) {
    probe_name = "ivshmem-msix";
    const char *bdf = "0000:00:05.0";
    long count = 500, vectors_wanted = 0;
    static const struct option long_options[] = {
        {"bdf", required_argument, 0, 'b'},
        {"count", required_argument, 0, 'c'},
        {"vectors", required_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (c) {
        case 'b': bdf = optarg; break;
        case 'c': count = probe_parse_long(optarg, 1, 10000000, "--count"); break;
        case 'v': vectors_wanted = probe_parse_long(optarg, 1, MAX_VECTORS, "--vectors"); break;
        case 'h':
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: ivshmem-msix [--bdf BDF] [--count N per vector] [--vectors N]\n"
                    "defaults: --bdf 0000:00:05.0 --count 500, all vectors the device has\n");
            return c == 'h' ? 0 : 2;
        }
    }

    struct probe_vfio vfio;
    probe_vfio_open(&vfio, bdf);
    volatile uint32_t *registers = probe_vfio_map_bar(&vfio, VFIO_PCI_BAR0_REGION_INDEX, NULL);
    int32_t peer_id = (int32_t)registers[IVSHMEM_IV_POSITION / 4];
    if (peer_id < 0) {
        errno = 0;
        probe_die("IVPosition is %d: the device is not connected to an ivshmem server", peer_id);
    }
    unsigned vectors = probe_vfio_irq_count(&vfio, VFIO_PCI_MSIX_IRQ_INDEX);
    if (!vectors) {
        errno = 0;
        probe_die("%s has no MSI-X vectors", bdf);
    }
    if (vectors_wanted && (unsigned)vectors_wanted < vectors) vectors = (unsigned)vectors_wanted;

    int fds[MAX_VECTORS];
    struct pollfd pfds[MAX_VECTORS];
    for (unsigned v = 0; v < vectors; v++) {
        fds[v] = probe_eventfd();
        pfds[v] = (struct pollfd){.fd = fds[v], .events = POLLIN};
    }
    probe_vfio_enable_bus_master(&vfio);
    probe_vfio_set_irq_eventfds(&vfio, VFIO_PCI_MSIX_IRQ_INDEX, fds, vectors);
    printf("ivshmem-msix: %s peer %d, %u MSI-X vectors enabled, %ld rounds\n", bdf, peer_id, vectors, count);

    uint64_t *samples = calloc((size_t)vectors * (size_t)count, sizeof *samples);
    long *delivered = calloc(vectors, sizeof *delivered);
    if (!samples || !delivered) probe_die("calloc");
    long misrouted = 0, misses = 0;
    for (long round = 0; round < count && misses < GIVE_UP_AFTER_MISSES; round++) {
        for (unsigned v = 0; v < vectors; v++) {
            uint64_t start = probe_now_ns();
            registers[IVSHMEM_DOORBELL / 4] = ((uint32_t)peer_id << 16) | v;
            bool arrived = false;
            uint64_t end = 0;
            for (;;) {
                int ready = poll(pfds, vectors, WAIT_MS);
                if (ready < 0 && errno == EINTR) continue;
                if (ready < 0) probe_die("poll");
                if (ready == 0) break;
                for (unsigned w = 0; w < vectors; w++) {
                    if (!(pfds[w].revents & POLLIN)) continue;
                    uint64_t value = probe_wait_counter(fds[w], 0);
                    if (w == v && value) {
                        end = probe_now_ns();
                        arrived = true;
                        misrouted += (long)value - 1; /* coalesced extras cannot be ours */
                    } else {
                        misrouted += (long)value;
                    }
                }
                if (arrived) break;
            }
            if (!arrived) {
                fprintf(stderr, "ivshmem-msix: round %ld vector %u: no interrupt within %d ms\n", round, v, WAIT_MS);
                if (++misses == GIVE_UP_AFTER_MISSES) {
                    fprintf(stderr, "ivshmem-msix: %d in a row lost, giving up\n", GIVE_UP_AFTER_MISSES);
                    break;
                }
                continue;
            }
            misses = 0;
            samples[(size_t)v * (size_t)count + (size_t)delivered[v]++] = end - start;
        }
    }

    long total = 0;
    char name[64];
    for (unsigned v = 0; v < vectors; v++) {
        snprintf(name, sizeof name, "ivshmem-msix-v%u", v);
        probe_print_summary(name, count, delivered[v], samples + (size_t)v * (size_t)count, delivered[v]);
        total += delivered[v];
    }
    printf("RESULT name=ivshmem-msix-total vectors=%u count=%ld delivered=%ld lost=%ld misrouted=%ld\n", vectors,
           count * vectors, total, count * vectors - total, misrouted);
    probe_vfio_set_irq_eventfds(&vfio, VFIO_PCI_MSIX_IRQ_INDEX, NULL, 0);
    return total == count * (long)vectors && misrouted == 0 ? 0 : 1;
}
