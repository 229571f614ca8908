/*
 * cmd/run_clean: finding and removing what runs whose moat process died
 * (SIGKILL, crash, power loss) left behind.
 */
#ifndef MOAT_RUN_CLEAN_H
#define MOAT_RUN_CLEAN_H

#include "runtime.h"

/*
 * Marks every RUNNING record under <home>/runs whose moat process is gone
 * as killed (with an end time), removes the firewall chains of those runs
 * (when capable), and calls rt_cleanup_orphans() for engine e, or for
 * every reachable engine when e is RT_AUTO.  Prints one line per removed
 * thing when verbose.  Returns the number of runs marked plus containers
 * and networks removed, or -1 when something could not be cleaned (logged;
 * the rest is still done).
 */
int	run_clean_dead(const char *home, enum rt_engine e, int verbose);

#endif /* MOAT_RUN_CLEAN_H */
