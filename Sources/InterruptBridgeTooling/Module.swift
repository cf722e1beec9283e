// Tooling over the runtime: the selftest, and what it knows of particular devices (how to make them interrupt and acknowledge).
