/*
 * edu-pull --bdf BDF --mode close|raise|raise-ack|pending: what a VFIO holder's way of letting an
 * edu go at a removal request does to its INTx line, in raw C, apart from the bridge.
 *
 * Opens the edu through VFIO with MSI and the removal request (REQ) connected, serves one MSI,
 * prints READY and waits for the kernel's removal request (`rig-hotplug remove` in another
 * process); then disables MSI and, by mode, raises (0x60) once more before closing (a raise that
 * landed after the messages were disabled), also acknowledges it (0x64) before closing, or had
 * left one raised and unacknowledged while MSI was on. The card's Command/Status (through the
 * VFIO config region) and interrupt status are printed at each step. scripts/rig/intx-flood.sh
 * counts the unhandled interrupts of the INTx line it shares with a card on uio_pci_generic.
 */
#include "probe-common.h"

static void show(struct probe_vfio *v, volatile uint32_t *bar, const char *what) {
    uint16_t command = probe_vfio_config_read16(v, PCI_COMMAND), status = probe_vfio_config_read16(v, PCI_STATUS);
    printf("  %-28s command=%04x status=%04x (INTx %s) edu irq_status=%x\n", what, command, status,
           status & PCI_STATUS_INTERRUPT ? "asserted" : "quiet", bar[0x24 / 4]);
    fflush(stdout);
}

int main(int argc, char **argv) {
    probe_name = "edu-pull";
    const char *bdf = NULL, *mode = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bdf")) bdf = argv[i + 1];
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else probe_die("unknown option %s", argv[i]);
    }
    if (!bdf || !mode || (strcmp(mode, "close") && strcmp(mode, "raise") && strcmp(mode, "raise-ack") && strcmp(mode, "pending"))) {
        errno = 0;
        probe_die("usage: edu-pull --bdf BDF --mode close|raise|raise-ack|pending");
    }
    struct probe_vfio v;
    probe_vfio_open(&v, bdf);
    size_t bar_size = 0;
    volatile uint32_t *bar = probe_vfio_map_bar(&v, VFIO_PCI_BAR0_REGION_INDEX, &bar_size);
    probe_vfio_enable_bus_master(&v);
    int msi = probe_eventfd(), request = probe_eventfd();
    probe_vfio_set_irq_eventfds(&v, VFIO_PCI_MSI_IRQ_INDEX, &msi, 1);
    probe_vfio_set_irq_eventfds(&v, VFIO_PCI_REQ_IRQ_INDEX, &request, 1);
    bar[0x60 / 4] = 1;
    if (probe_wait_counter(msi, 2000) == 0) probe_die("no MSI within 2 s");
    bar[0x64 / 4] = 1;
    show(&v, bar, "open, MSI on, one served");
    if (!strcmp(mode, "pending")) {
        bar[0x60 / 4] = 1;
        show(&v, bar, "raised, not acknowledged");
    }
    printf("READY\n");
    fflush(stdout);
    if (probe_wait_counter(request, 60000) == 0) probe_die("no removal request within 60 s");
    show(&v, bar, "removal request");
    probe_vfio_set_irq_eventfds(&v, VFIO_PCI_MSI_IRQ_INDEX, NULL, 0);
    show(&v, bar, "MSI disabled");
    if (!strncmp(mode, "raise", 5)) {
        bar[0x60 / 4] = 1;
        /* Read back at once (printing is slow while the line storms), acknowledged at once. */
        uint16_t status = probe_vfio_config_read16(&v, PCI_STATUS);
        if (!strcmp(mode, "raise-ack")) bar[0x64 / 4] = bar[0x24 / 4];
        printf("  %-28s status=%04x (INTx %s)\n", "raised after MSI disabled", status, status & PCI_STATUS_INTERRUPT ? "asserted" : "quiet");
        if (!strcmp(mode, "raise-ack")) show(&v, bar, "acknowledged");
    }
    munmap((void *)bar, bar_size);
    close(v.device);
    close(v.group);
    close(v.container);
    printf("  closed\n");
    return 0;
}
