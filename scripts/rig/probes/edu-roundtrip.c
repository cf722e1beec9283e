/*
 * edu-roundtrip: raw-C interrupt round trip on QEMU's edu device (1234:11e8), the
 * baseline the bridge is measured against in the same boot.
 *
 * One iteration: write 0x60 (raise interrupt) -> wait until the kernel delivers it (VFIO
 * eventfd readable, or /dev/uioN readable) -> read it [timed up to here] -> acknowledge
 * the device (read 0x24, write it to 0x64) -> re-arm (VFIO INTx: unmask ioctl; UIO: clear
 * Interrupt Disable, bit 10 of Command, through sysfs config; MSI: nothing).
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
 * A run gives up after 5 interrupts in a row are lost (1 s each), so a broken rig fails fast.
 * Output: with --per-iteration one "ns N" line per delivered interrupt, then one
 * "RESULT name=... count=... delivered=... lost=... min_ns=... p50_ns=... ..." line.
 * Exit status: 0 when every interrupt arrived, 1 when some were lost, 2 on setup errors.
 */
#include "probe-common.h"

#include <dirent.h>
#include <getopt.h>

enum { EDU_IDENT = 0x00, EDU_IRQ_STATUS = 0x24, EDU_IRQ_RAISE = 0x60, EDU_IRQ_ACK = 0x64 };
enum { WAIT_MS = 1000, GIVE_UP_AFTER_MISSES = 5 };

struct options {
    const char *bdf, *backend, *mode, *name, *unmask, *trigger;
    long count, warmup;
    bool per_iteration, no_bus_master;
};

static volatile uint32_t *registers;

static inline uint32_t edu_read(unsigned offset) { return registers[offset / 4]; }
static inline void edu_write(unsigned offset, uint32_t value) { registers[offset / 4] = value; }

static void edu_check_ident(void) {
    uint32_t ident = edu_read(EDU_IDENT);
    if ((ident & 0xff) != 0xed) {
        errno = 0;
        probe_die("BAR0 ident register reads 0x%08x, not an edu device", ident);
    }
}

static void edu_acknowledge(void) {
    uint32_t status = edu_read(EDU_IRQ_STATUS);
    edu_write(EDU_IRQ_ACK, status ? status : 0xffffffff);
}

static void raise_by_register(unsigned iteration) { edu_write(EDU_IRQ_RAISE, 1u << (iteration % 8)); }

/* Runs count + warmup iterations; raise() makes the interrupt, wait() blocks until delivery
 * (false: timed out), rearm() runs after the acknowledge. Returns the number delivered among
 * the measured ones. */
static long run_loop(const struct options *o, uint64_t *samples, void (*raise)(unsigned), bool (*wait)(void),
                     void (*rearm)(void)) {
    long delivered = 0, misses = 0;
    for (long i = 0; i < o->warmup + o->count; i++) {
        uint64_t start = probe_now_ns();
        raise((unsigned)i);
        bool arrived = wait();
        uint64_t end = probe_now_ns();
        edu_acknowledge();
        rearm();
        if (!arrived) {
            fprintf(stderr, "%s: %s iteration %ld: no interrupt within %d ms\n", probe_name,
                    i < o->warmup ? "warm-up" : "measured", i < o->warmup ? i : i - o->warmup, WAIT_MS);
            if (++misses == GIVE_UP_AFTER_MISSES) {
                fprintf(stderr, "%s: %d in a row lost, giving up\n", probe_name, GIVE_UP_AFTER_MISSES);
                break;
            }
            continue;
        }
        misses = 0;
        if (i < o->warmup) continue;
        samples[delivered++] = end - start;
        if (o->per_iteration) printf("ns %llu\n", (unsigned long long)(end - start));
    }
    return delivered;
}

/* --- VFIO ------------------------------------------------------------------------------ */

static struct probe_vfio vfio;
static int trigger_fd;
static bool storm_still_firing; /* storm mode: the line fired after it was acknowledged */

static bool vfio_wait(void) { return probe_wait_counter(trigger_fd, WAIT_MS) != 0; }
static void vfio_rearm_nothing(void) {}
static void vfio_rearm_unmask(void) { probe_vfio_unmask_intx(&vfio); }
static int unmask_fd = -1;
static void vfio_rearm_unmask_eventfd(void) {
    uint64_t one = 1;
    if (write(unmask_fd, &one, sizeof one) != (ssize_t)sizeof one) probe_die("write unmask eventfd");
}
static unsigned loopback_index;
static void raise_by_loopback(unsigned iteration) {
    (void)iteration;
    struct vfio_irq_set set = {
        .argsz = sizeof set,
        .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
        .index = loopback_index,
        .start = 0,
        .count = 1,
    };
    if (ioctl(vfio.device, VFIO_DEVICE_SET_IRQS, &set)) probe_die("VFIO loopback trigger");
}

static int run_vfio(const struct options *o, uint64_t *samples) {
    probe_vfio_open(&vfio, o->bdf);
    registers = probe_vfio_map_bar(&vfio, VFIO_PCI_BAR0_REGION_INDEX, NULL);
    edu_check_ident();
    trigger_fd = probe_eventfd();
    bool msi = !strcmp(o->mode, "msi");
    unsigned index = msi ? VFIO_PCI_MSI_IRQ_INDEX : VFIO_PCI_INTX_IRQ_INDEX;
    if (probe_vfio_irq_count(&vfio, index) < 1) {
        errno = 0;
        probe_die("%s has no %s interrupt", o->bdf, msi ? "MSI" : "INTx");
    }
    if (msi && !o->no_bus_master) probe_vfio_enable_bus_master(&vfio);
    probe_vfio_set_irq_eventfds(&vfio, index, &trigger_fd, 1);

    long delivered;
    if (!strcmp(o->mode, "storm")) {
        /* Never acknowledged: each unmask must re-deliver at once, the process stays in control. */
        edu_write(EDU_IRQ_RAISE, 1);
        delivered = 0;
        for (long i = 0; i < o->count; i++) {
            uint64_t start = probe_now_ns();
            if (!vfio_wait()) break;
            samples[delivered++] = probe_now_ns() - start;
            probe_vfio_unmask_intx(&vfio);
        }
        /* Acknowledge, then the line must stay quiet. */
        edu_acknowledge();
        probe_vfio_unmask_intx(&vfio);
        (void)probe_wait_counter(trigger_fd, 10); /* at most one already in flight */
        if (probe_wait_counter(trigger_fd, 200)) {
            fprintf(stderr, "%s: interrupt still firing after acknowledge\n", probe_name);
            storm_still_firing = true;
        }
    } else {
        void (*rearm)(void) = vfio_rearm_nothing;
        if (!msi && !strcmp(o->unmask, "eventfd")) {
            unmask_fd = probe_eventfd();
            struct {
                struct vfio_irq_set set;
                int32_t fd;
            } unmask = {
                .set = {.argsz = sizeof unmask, .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
                        .index = VFIO_PCI_INTX_IRQ_INDEX, .start = 0, .count = 1},
                .fd = unmask_fd,
            };
            if (ioctl(vfio.device, VFIO_DEVICE_SET_IRQS, &unmask)) probe_die("register INTx unmask eventfd");
            rearm = vfio_rearm_unmask_eventfd;
        } else if (!msi) {
            rearm = vfio_rearm_unmask;
        }
        loopback_index = index;
        bool loopback = !strcmp(o->trigger, "loopback");
        delivered = run_loop(o, samples, loopback ? raise_by_loopback : raise_by_register, vfio_wait, rearm);
    }
    probe_vfio_set_irq_eventfds(&vfio, index, NULL, 0);
    return (int)delivered;
}

/* --- UIO -------------------------------------------------------------------------------- */

static int uio_fd, uio_config_fd;

static bool uio_wait(void) {
    struct pollfd pfd = {.fd = uio_fd, .events = POLLIN};
    int ready;
    while ((ready = poll(&pfd, 1, WAIT_MS)) < 0 && errno == EINTR) {}
    if (ready <= 0) return false;
    uint32_t count;
    if (read(uio_fd, &count, sizeof count) != (ssize_t)sizeof count) probe_die("read uio");
    return true;
}

/* uio_pci_generic masks INTx by setting Interrupt Disable and has no irqcontrol: clear it. */
static void uio_rearm(void) {
    uint16_t command;
    if (pread(uio_config_fd, &command, 2, PCI_COMMAND) != 2) probe_die("read Command");
    command &= (uint16_t)~PCI_COMMAND_INTX_DISABLE;
    if (pwrite(uio_config_fd, &command, 2, PCI_COMMAND) != 2) probe_die("write Command");
}

static int run_uio(const struct options *o, uint64_t *samples) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/uio", o->bdf);
    DIR *dir = opendir(path);
    if (!dir) probe_die("%s: no uio directory (is %s bound to uio_pci_generic?)", path, o->bdf);
    struct dirent *entry;
    char uio_name[sizeof entry->d_name] = "";
    while ((entry = readdir(dir))) {
        if (!strncmp(entry->d_name, "uio", 3)) snprintf(uio_name, sizeof uio_name, "%s", entry->d_name);
    }
    closedir(dir);
    if (!*uio_name) probe_die("no uio device under %s", path);
    snprintf(path, sizeof path, "/dev/%s", uio_name);
    uio_fd = open(path, O_RDWR | O_CLOEXEC);
    if (uio_fd < 0) probe_die("open %s", path);
    uio_config_fd = probe_sysfs_open_config(o->bdf);
    registers = probe_sysfs_map_bar(o->bdf, 0);
    edu_check_ident();
    uio_rearm();
    return (int)run_loop(o, samples, raise_by_register, uio_wait, uio_rearm);
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
    long delivered = vfio_backend ? run_vfio(&o, samples) : run_uio(&o, samples);
    probe_print_summary(o.name, o.count, delivered, samples, delivered);
    return delivered == o.count && !storm_still_firing ? 0 : 1;
}
