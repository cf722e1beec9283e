// thread: shim declarations (owned by the thread work; see the umbrella header for the rules).
#ifndef CIB_THREAD_H
#define CIB_THREAD_H

#endif
