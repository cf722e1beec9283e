#!/usr/bin/env python3
"""Tests of scripts/check-list-against-lspci.py's parsing of `lspci -vvv`, on output captured
in the QEMU rig (Python 3 standard library only; under a second).

  python3 scripts/tests/test_check_list_against_lspci.py
"""
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = importlib.util.spec_from_file_location("check_list", os.path.join(HERE, "..", "check-list-against-lspci.py"))
check_list = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(check_list)

# QEMU's i6300esb bound to Debian 6.1's i6300esb module, whose pci_driver is named
# "i6300ESB timer" (captured in the rig with --qemu-device i6300esb).
WATCHDOG = """\
00:1b.0 System peripheral: Intel Corporation 6300ESB Watchdog Timer
\tSubsystem: Red Hat, Inc. QEMU Virtual Machine
\tControl: I/O+ Mem+ BusMaster- SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR+ FastB2B- DisINTx-
\tStatus: Cap- 66MHz- UDF- FastB2B- ParErr- DEVSEL=fast >TAbort- <TAbort- <MAbort- >SERR- <PERR- INTx-
\tIOMMU group: 11
\tRegion 0: Memory at fe7d7000 (32-bit, non-prefetchable) [size=16]
\tKernel driver in use: i6300ESB timer
\tKernel modules: i6300esb

00:1c.0 Ethernet controller: VMware VMXNET3 Ethernet Controller (rev 01)
\tInterrupt: pin A routed to IRQ 16
\tIOMMU group: 12
\tRegion 0: Memory at fe7d8000 (32-bit, non-prefetchable) [size=4K]
\tCapabilities: [9c] MSI-X: Enable+ Count=25 Masked-
\tKernel driver in use: vmxnet3
"""


class ParseLspciTests(unittest.TestCase):
    def test_a_driver_name_with_a_space_is_read_whole(self):
        devices = check_list.parse_lspci(WATCHDOG)
        self.assertEqual(devices["0000:00:1b.0"]["driver"], "i6300ESB timer")
        self.assertEqual(devices["0000:00:1c.0"]["driver"], "vmxnet3")

    def test_irqbridge_naming_the_same_driver_agrees(self):
        lspci = check_list.parse_lspci(WATCHDOG)
        listed = {"0000:00:1b.0": {"irq": None, "msi": None, "msix": None, "driver": "i6300ESB timer", "iommuGroup": 11,
                                   "bars": [{"index": 0, "address": "0xfe7d7000", "size": 16}], "nodes": {}},
                  "0000:00:1c.0": {"irq": 16, "msi": None, "msix": {"tableSize": 25}, "driver": "vmxnet3", "iommuGroup": 12,
                                   "bars": [{"index": 0, "address": "0xfe7d8000", "size": 4096}], "nodes": {}}}
        self.assertEqual(check_list.compare(listed, lspci), [])

if __name__ == "__main__":
    unittest.main()
