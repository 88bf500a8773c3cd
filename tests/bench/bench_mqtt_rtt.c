/*
 * bench_mqtt_rtt.c - publish one QoS 1 message, flush (wait for its PUBACK),
 * repeat: the pattern of the process role (publish a batch, flush, commit)
 * in its smallest form, to look for the one-second round trips of issue 16
 * (paho.mqtt.c issue 32: "round trips of 5, 1005, 106 ms").  Alone it
 * rarely shows them (none in 6000 round trips on the loaded 2-core machine
 * of issue 16); the pipeline does (scripts/bench/mqtt-stalls.sh).
 *
 *   bench_mqtt_rtt [--broker=URI] [--count=N] [--gap-us=U]
 *
 * Prints the round-trip distribution (publish() + flush(), us) and how many
 * took longer than 50 ms and 500 ms.  --gap-us sleeps between round trips
 * (default 1000: the 1 kHz pipeline's pace).  A timing, not a test: run it
 * against a private broker, compare versions side by side.
 */
#include "error.h"
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *broker = "mqtt://127.0.0.1:1883";
	struct transport_cfg cfg = {0};
	struct transport *t = NULL;
	struct sc_error err = {0};
	long count = 5000, gap_us = 1000, over50 = 0, over500 = 0;
	char ns[64], payload[200];
	int64_t *rtt;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--broker=", 9))
			broker = argv[i] + 9;
		else if (!strncmp(argv[i], "--count=", 8))
			count = atol(argv[i] + 8);
		else if (!strncmp(argv[i], "--gap-us=", 9))
			gap_us = atol(argv[i] + 9);
		else {
			fprintf(stderr, "usage: %s [--broker=URI] [--count=N] [--gap-us=U]\n",
				argv[0]);
			return 64;
		}
	}
	if (count < 1)
		count = 1;
	rtt = calloc((size_t)count, sizeof(*rtt));
	if (!rtt)
		return 71;
	snprintf(ns, sizeof(ns), "bench-rtt-%ld", (long)getpid());
	cfg.broker = broker;
	cfg.ns = ns;
	cfg.role = "process"; /* at the default QoS 1 */
	if (transport_open("mqtt", &cfg, &t, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 69;
	}
	memset(payload, 'x', sizeof(payload));
	for (long i = 0; i < count; i++) {
		struct sc_msg m = {.stream = SC_STREAM_PROC_CPU,
				   .payload = payload,
				   .len = sizeof(payload),
				   .key = "k"};
		int64_t t0 = now_ns();
		if (transport_publish(t, &m, &err) || transport_flush(t, 30000, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			transport_close(t);
			return 69;
		}
		rtt[i] = (now_ns() - t0) / 1000;
		over50 += rtt[i] > 50000;
		over500 += rtt[i] > 500000;
		if (gap_us > 0)
			usleep((useconds_t)gap_us);
	}
	transport_close(t);
	qsort(rtt, (size_t)count, sizeof(*rtt), cmp_i64);
	printf("n=%ld p50_us=%lld p99_us=%lld p999_us=%lld max_us=%lld over50ms=%ld "
	       "over500ms=%ld\n",
	       count, (long long)rtt[count / 2], (long long)rtt[count * 99 / 100],
	       (long long)rtt[count * 999 / 1000], (long long)rtt[count - 1], over50, over500);
	free(rtt);
	return 0;
}
