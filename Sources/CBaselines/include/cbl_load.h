// CPU-burning threads for the load scenario (issue 13): every side of a ratio
// is measured while the same number of them run, so a margin under load is a
// printed figure rather than an accident of the machine's state.
#ifndef CBL_LOAD_H
#define CBL_LOAD_H

#include <stddef.h>

typedef struct cbl_load cbl_load;

/// Starts `threads` unpinned threads ("cbl-load") that spin on arithmetic until
/// stopped. Returns 0 with *out set, or a positive errno with none left running.
int cbl_load_start(size_t threads, cbl_load **out);
/// Stops and joins them, frees the load.
void cbl_load_stop(cbl_load *load);

#endif
