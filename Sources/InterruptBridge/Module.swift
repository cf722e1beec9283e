// The runtime: dispatch loop, interrupt objects, backends, connect API.
