/*
 * stop.h - the process-wide stop request.
 *
 * The application's signal handler sets it; roles, runtime and transports
 * read it to end blocking waits and drain.  It lives in the core so that a
 * transport can ask for it without depending on the application.
 */
#ifndef SC_STOP_H
#define SC_STOP_H

#include <stdbool.h>

/* True once a stop was requested.  Safe from any thread. */
bool sc_stop_requested(void);

/* Request (true) or clear (false) a stop.  Async-signal-safe: a lock-free
 * atomic store, callable from a signal handler. */
void sc_stop_set(bool stop);

#endif /* SC_STOP_H */
