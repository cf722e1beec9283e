// WDK-compatible spellings over the InterruptBridge runtime.
