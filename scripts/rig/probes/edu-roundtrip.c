/*
 * edu-roundtrip: raw-C interrupt round trip on QEMU's edu device (1234:11e8), the
 * baseline the bridge is measured against in the same boot.
 *
 * The round trips are the one raw-C edu loop of Sources/CBaselines (vfio_edu.c, compiled in
 * by build.sh), the same loop `irqbridge bench --rig-edu` holds the bridge against: a writer
 * thread stores to 0x60 (or issues the loopback trigger), a receiving thread wakes on the
 * eventfd (or /dev/uioN), acknowledges the device (read 0x24, write it to 0x64) [timed up to
 * here], then re-arms (VFIO INTx: unmask ioctl or unmask eventfd; UIO: clear Interrupt
 * Disable, bit 10 of Command, through sysfs config; MSI: nothing). Storm mode is not a round
 * trip and keeps its own loop.
 *
 * Modes:
 *   --backend vfio --mode msi     MSI vector 0 through VFIO (Bus Master enabled first)
 *   --backend vfio --mode intx    INTx through VFIO, unmask after each acknowledge
 *   --backend vfio --mode storm   INTx never acknowledged: after each unmask the level-triggered
 *                                 line must fire again at once (--count refires); finally it is
 *                                 acknowledged and must stay quiet
 *   --backend uio  --mode intx    uio_pci_generic INTx, Command-register re-enable
 *
 * VFIO options:
 *   --unmask eventfd              INTx: unmask by writing an unmask eventfd registered with
 *                                 VFIO_IRQ_SET_ACTION_UNMASK | DATA_EVENTFD (default: the ioctl)
 *   --trigger loopback            raise the interrupt with VFIO_IRQ_SET_ACTION_TRIGGER (DATA_NONE)
 *                                 instead of the device register: the path a tool takes for a
 *                                 device it does not know (the device is still acknowledged)
 *   --no-bus-master               MSI without Bus Master Enable: shows the MSIs being dropped
 *                                 (expect every one lost; exit 1)
 *
 * A run stops at the first interrupt not delivered within 1 s, so a broken rig fails fast.
 * Output: with --per-iteration one "ns N" line per delivered interrupt, then one
 * "RESULT name=... count=... delivered=... lost=... min_ns=... p50_ns=... ..." line.
 * Exit status: 0 when every interrupt arrived, 1 when some were lost, 2 on setup errors.
 */
#include "probe-common.h"

#include <getopt.h>

#include "cbl_vfio_edu.h"

enum { EDU_IDENT = 0x00, EDU_IRQ_STATUS = 0x24, EDU_IRQ_RAISE = 0x60, EDU_IRQ_ACK = 0x64 };
enum { WAIT_MS = 1000 };

struct options {
    const char *bdf, *backend, *mode, *name, *unmask, *trigger;
    long count, warmup;
    bool per_iteration, no_bus_master;
};

/* --- round trips: CBaselines' loop ------------------------------------------------------ */

/* Runs warmup + count round trips through CBaselines and copies the measured samples.
 * Returns the number of measured interrupts delivered; exits 2 on a set-up error. */
static long run_roundtrips(const struct options *o, uint64_t *samples) {
    uint64_t total = (uint64_t)(o->warmup + o->count);
    cbl_probe probe;
    if (cbl_probe_init(&probe, 1, total) != 0) probe_die("calloc");
    cbl_thread_placement anywhere = {.cpu = -1, .fifo_priority = 0};
    char error[256] = "";
    int rc;
    if (!strcmp(o->backend, "uio")) {
        rc = cbl_uio_edu_roundtrip(o->bdf, &probe, total, 0, WAIT_MS * 1000000ull, &anywhere, &anywhere, error, sizeof error);
    } else {
        cbl_edu_options edu = {.kind = strcmp(o->mode, "msi") ? CBL_EDU_INTX : CBL_EDU_MSI,
                               .unmask_by_eventfd = !strcmp(o->unmask, "eventfd"),
                               .loopback_trigger = !strcmp(o->trigger, "loopback"),
                               .no_bus_master = o->no_bus_master};
        rc = cbl_vfio_edu_roundtrip_with(o->bdf, &edu, &probe, total, 0, WAIT_MS * 1000000ull, &anywhere, &anywhere,
                                         error, sizeof error);
    }
    uint64_t hits = cbl_probe_hits(&probe);
    uint64_t unclaimed = cbl_probe_unclaimed_deliveries(&probe);
    if (unclaimed > 0) {
        printf("unclaimed %llu (deliveries that found edu's status clear, not counted)\n",
               (unsigned long long)unclaimed);
    }
    /* A timeout after the receiver started is a lost interrupt (exit 1); anything else is set-up. */
    if (rc != 0 && rc != ETIMEDOUT) {
        errno = 0;
        probe_die("%s", error);
    }
    if (rc == ETIMEDOUT) fprintf(stderr, "%s: %s\n", probe_name, error);
    long delivered = hits > (uint64_t)o->warmup ? (long)(hits - (uint64_t)o->warmup) : 0;
    for (long i = 0; i < delivered; i++) {
        samples[i] = probe.samples[o->warmup + i];
        if (o->per_iteration) printf("ns %llu\n", (unsigned long long)samples[i]);
    }
    cbl_probe_destroy(&probe);
    return delivered;
}

/* --- storm: INTx never acknowledged --------------------------------------------------- */

static volatile uint32_t *registers;
static bool storm_still_firing; /* the line fired after it was acknowledged */

static inline uint32_t edu_read(unsigned offset) { return registers[offset / 4]; }
static inline void edu_write(unsigned offset, uint32_t value) { registers[offset / 4] = value; }

static void edu_acknowledge(void) {
    uint32_t status = edu_read(EDU_IRQ_STATUS);
    edu_write(EDU_IRQ_ACK, status ? status : 0xffffffff);
}

/* After each unmask the level-triggered line must fire again at once; once acknowledged it
 * must stay quiet. Returns the number of refires seen. */
static long run_storm(const struct options *o, uint64_t *samples) {
    struct probe_vfio vfio;
    probe_vfio_open(&vfio, o->bdf);
    registers = probe_vfio_map_bar(&vfio, VFIO_PCI_BAR0_REGION_INDEX, NULL);
    uint32_t ident = edu_read(EDU_IDENT);
    if ((ident & 0xff) != 0xed) {
        errno = 0;
        probe_die("BAR0 ident register reads 0x%08x, not an edu device", ident);
    }
    int trigger_fd = probe_eventfd();
    if (probe_vfio_irq_count(&vfio, VFIO_PCI_INTX_IRQ_INDEX) < 1) {
        errno = 0;
        probe_die("%s has no INTx interrupt", o->bdf);
    }
    probe_vfio_set_irq_eventfds(&vfio, VFIO_PCI_INTX_IRQ_INDEX, &trigger_fd, 1);
    edu_write(EDU_IRQ_RAISE, 1);
    long delivered = 0;
    for (long i = 0; i < o->count; i++) {
        uint64_t start = probe_now_ns();
        if (!probe_wait_counter(trigger_fd, WAIT_MS)) break;
        samples[delivered++] = probe_now_ns() - start;
        probe_vfio_unmask_intx(&vfio);
    }
    edu_acknowledge();
    probe_vfio_unmask_intx(&vfio);
    (void)probe_wait_counter(trigger_fd, 10); /* at most one already in flight */
    if (probe_wait_counter(trigger_fd, 200)) {
        fprintf(stderr, "%s: interrupt still firing after acknowledge\n", probe_name);
        storm_still_firing = true;
    }
    probe_vfio_set_irq_eventfds(&vfio, VFIO_PCI_INTX_IRQ_INDEX, NULL, 0);
    return delivered;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: edu-roundtrip [--bdf BDF] [--backend vfio|uio] [--mode msi|intx|storm] [--count N]\n"
            "                     [--warmup N] [--per-iteration] [--name NAME] [--unmask ioctl|eventfd]\n"
            "                     [--trigger device|loopback] [--no-bus-master]\n"
            "defaults: --bdf 0000:00:03.0 --backend vfio --mode msi --count 2000 --warmup 50\n");
}

int main(int argc, char **argv) {
    probe_name = "edu-roundtrip";
    struct options o = {.bdf = "0000:00:03.0", .backend = "vfio", .mode = "msi", .count = 2000, .warmup = 50,
                         .unmask = "ioctl", .trigger = "device"};
    static const struct option long_options[] = {
        {"bdf", required_argument, 0, 'b'},   {"backend", required_argument, 0, 'B'},
        {"mode", required_argument, 0, 'm'},  {"count", required_argument, 0, 'c'},
        {"warmup", required_argument, 0, 'w'}, {"per-iteration", no_argument, 0, 'p'},
        {"name", required_argument, 0, 'n'},  {"help", no_argument, 0, 'h'},
        {"unmask", required_argument, 0, 'u'}, {"trigger", required_argument, 0, 't'},
        {"no-bus-master", no_argument, 0, 'M'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (c) {
        case 'b': o.bdf = optarg; break;
        case 'B': o.backend = optarg; break;
        case 'm': o.mode = optarg; break;
        case 'c': o.count = probe_parse_long(optarg, 1, 10000000, "--count"); break;
        case 'w': o.warmup = probe_parse_long(optarg, 0, 1000000, "--warmup"); break;
        case 'p': o.per_iteration = true; break;
        case 'n': o.name = optarg; break;
        case 'u': o.unmask = optarg; break;
        case 't': o.trigger = optarg; break;
        case 'M': o.no_bus_master = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) { usage(stderr); return 2; }
    bool vfio_backend = !strcmp(o.backend, "vfio");
    if (!vfio_backend && strcmp(o.backend, "uio")) { usage(stderr); return 2; }
    if (strcmp(o.mode, "msi") && strcmp(o.mode, "intx") && strcmp(o.mode, "storm")) { usage(stderr); return 2; }
    if ((strcmp(o.unmask, "ioctl") && strcmp(o.unmask, "eventfd")) ||
        (strcmp(o.trigger, "device") && strcmp(o.trigger, "loopback"))) {
        usage(stderr);
        return 2;
    }
    bool defaults = !strcmp(o.unmask, "ioctl") && !strcmp(o.trigger, "device");
    if (!defaults && (!vfio_backend || !strcmp(o.mode, "storm"))) {
        fprintf(stderr, "edu-roundtrip: --unmask and --trigger apply to --backend vfio, modes msi and intx\n");
        return 2;
    }
    if (!vfio_backend && strcmp(o.mode, "intx")) {
        fprintf(stderr, "edu-roundtrip: uio_pci_generic has INTx only (--mode intx)\n");
        return 2;
    }
    char default_name[64];
    snprintf(default_name, sizeof default_name, "edu-%s-%s%s%s", o.backend, o.mode,
             strcmp(o.unmask, "eventfd") ? "" : "-unmaskfd", strcmp(o.trigger, "loopback") ? "" : "-loopback");
    if (!o.name) o.name = default_name;

    uint64_t *samples = calloc((size_t)o.count, sizeof *samples);
    if (!samples) probe_die("calloc");
    long delivered = !strcmp(o.mode, "storm") ? run_storm(&o, samples) : run_roundtrips(&o, samples);
    probe_print_summary(o.name, o.count, delivered, samples, delivered);
    return delivered == o.count && !storm_still_firing ? 0 : 1;
}
