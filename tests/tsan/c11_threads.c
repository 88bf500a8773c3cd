/*
 * c11_threads.c - C11 <threads.h> routed through pthreads, for `make tsan`.
 *
 * librdkafka creates its threads with thrd_create() and locks with mtx_*()/
 * cnd_*().  glibc implements those by calling its internal pthread entry
 * points, which ThreadSanitizer (GCC 12, Clang 14) does not intercept: a
 * thread it never saw crashes in TSan's allocator, and locks it never saw
 * would be reported as races.  Defined in the test executable, these take
 * precedence over glibc's and call the intercepted pthread functions, so
 * TSan sees librdkafka's threads and locks as they are.  glibc's mtx_t and
 * cnd_t have the layout of pthread_mutex_t and pthread_cond_t.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

static int c11(int rc)
{
	return rc == 0		 ? thrd_success
	       : rc == ETIMEDOUT ? thrd_timedout
	       : rc == EBUSY	 ? thrd_busy
	       : rc == ENOMEM	 ? thrd_nomem
				 : thrd_error;
}

struct start {
	thrd_start_t fn;
	void *arg;
};

static void *trampoline(void *p)
{
	struct start s = *(struct start *)p;

	free(p);
	return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
	struct start *s = malloc(sizeof(*s));
	int rc;

	if (!s)
		return thrd_nomem;
	s->fn = fn;
	s->arg = arg;
	rc = pthread_create((pthread_t *)thr, NULL, trampoline, s);
	if (rc)
		free(s);
	return c11(rc);
}

int thrd_join(thrd_t thr, int *res)
{
	void *ret;
	int rc = pthread_join((pthread_t)thr, &ret);

	if (!rc && res)
		*res = (int)(intptr_t)ret;
	return c11(rc);
}

int thrd_detach(thrd_t thr)
{
	return c11(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t *m, int type)
{
	pthread_mutexattr_t a;
	int rc;

	pthread_mutexattr_init(&a);
	if (type & mtx_recursive)
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	rc = pthread_mutex_init((pthread_mutex_t *)m, &a);
	pthread_mutexattr_destroy(&a);
	return c11(rc);
}

int mtx_lock(mtx_t *m)
{
	return c11(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m)
{
	return c11(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
	return c11(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

int mtx_unlock(mtx_t *m)
{
	return c11(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
	pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
	return c11(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
	return c11(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
	return c11(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
	return c11(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
	return c11(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c)
{
	pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*fn)(void))
{
	pthread_once((pthread_once_t *)flag, fn);
}
