import ArgumentParser

/// `irqbridge`: the root command only lists the subcommands (one file each).
@main
struct IRQBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "irqbridge",
        abstract: "Windows-style interrupt connection (IoConnectInterruptEx) over Linux VFIO/UIO interrupts.",
        version: "0.1.0",
        subcommands: subcommands
    )

    #if INTERRUPTBRIDGE_WITHOUT_DAEMON
    // Built without the daemon (see Package.swift): no `daemon`, no `ctl`.
    static let subcommands: [any ParsableCommand.Type] = [
        ListCommand.self, BindCommand.self, UnbindCommand.self, SelftestCommand.self, WatchCommand.self, WaitCommand.self,
        TriggerCommand.self, ProfileCommand.self, BenchCommand.self, RigCommand.self,
    ]
    #else
    static let subcommands: [any ParsableCommand.Type] = [
        ListCommand.self, BindCommand.self, UnbindCommand.self, SelftestCommand.self, WatchCommand.self, WaitCommand.self,
        TriggerCommand.self, ProfileCommand.self, BenchCommand.self, RigCommand.self, DaemonCommand.self, CtlCommand.self,
    ]
    #endif
}
