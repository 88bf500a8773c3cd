/*
 * test_metrics.c - the metrics endpoint's life cycle.
 *
 * close(2) is interposed (this executable's definition wins over libc's for
 * libmicrohttpd too) to count closes of a descriptor that is not open: in a
 * threaded process a second close of the same number can close a descriptor
 * another thread has just opened.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "error.h"
#include "metrics.h"

static atomic_int armed, bad_closes;

int close(int fd)
{
	static int (*real_close)(int);
	int rc, saved;

	if (!real_close)
		*(void **)&real_close = dlsym(RTLD_NEXT, "close");
	rc = real_close(fd);
	saved = errno;
	if (rc < 0 && saved == EBADF && atomic_load(&armed))
		atomic_fetch_add(&bad_closes, 1);
	errno = saved;
	return rc;
}

Test(metrics, stop_closes_the_listening_socket_once)
{
	struct sc_error err = {0};
	struct metrics *m = metrics_start("127.0.0.1:0", "sink", &err);

	cr_assert_not_null(m, "%s", err.msg);
	cr_assert_gt(metrics_port(m), 0);
	atomic_store(&armed, 1);
	metrics_stop(m);
	atomic_store(&armed, 0);
	cr_assert_eq(atomic_load(&bad_closes), 0, "%d close(2) of a descriptor already closed",
		     atomic_load(&bad_closes));
}

Test(metrics, a_port_in_use_is_a_clear_error)
{
	struct sc_error err = {0};
	struct metrics *a = metrics_start("127.0.0.1:0", "sink", &err), *b;
	char addr[32];

	cr_assert_not_null(a, "%s", err.msg);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", metrics_port(a));
	atomic_store(&armed, 1);
	b = metrics_start(addr, "sink", &err);
	atomic_store(&armed, 0);
	cr_assert_null(b);
	cr_assert_neq(err.code, 0);
	cr_assert_eq(atomic_load(&bad_closes), 0);
	metrics_stop(a);
}
