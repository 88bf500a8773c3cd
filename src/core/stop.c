/* stop.c - see stop.h */
#include "stop.h"

#include <stdatomic.h>

/* An atomic rather than a volatile sig_atomic_t: backends' library threads
 * read it too, and a lock-free atomic is both signal- and thread-safe. */
static atomic_int stop_flag;

_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
	       "the stop flag must be lock-free to be set from a signal handler");

bool sc_stop_requested(void)
{
	return atomic_load(&stop_flag) != 0;
}

void sc_stop_set(bool stop)
{
	atomic_store(&stop_flag, stop ? 1 : 0);
}
