// edu-probe [COUNT]: starts the edu driver on the rig's edu (IRQBRIDGE_RIG_DEVICES, bound to
// vfio-pci with --bind), raises COUNT interrupts one at a time and prints what the ISR counted.
//   swift package --disable-sandbox rig --devices edu --bind 0000:00:03.0=vfio-pci -- run edu-probe 1000
#if canImport(Glibc)
import Glibc
#endif
import EduDriver
import InterruptBridgeCore
import InterruptBridgeTestKit
import InterruptBridgeWDK

let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? -1 : 100
guard count > 0 else {
    print("usage: edu-probe [COUNT]  (COUNT > 0)")
    exit(2)
}
guard let address = Rig.device("edu") else {
    print("edu-probe: no edu in IRQBRIDGE_RIG_DEVICES: run it in the rig (--devices edu)")
    exit(2)
}
do {
    let edu = try EduDevice(address: address)
    defer { edu.stop() }
    for raised in 1...count {
        edu.raise()
        guard eventually(5, { edu.Extension.InterruptCount == raised }) else {
            print("edu-probe: interrupt \(raised) lost (the ISR counted \(edu.Extension.InterruptCount))")
            exit(1)
        }
    }
    let kind = edu.Version == CONNECT_MESSAGE_BASED ? "MSI (CONNECT_MESSAGE_BASED)" : "INTx (CONNECT_LINE_BASED)"
    print("edu-probe: \(address): \(edu.Extension.InterruptCount) of \(count) interrupts through \(kind)")
} catch {
    print("edu-probe: \(error)")
    exit(1)
}
