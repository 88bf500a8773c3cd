/*
 * bench_mqttclient_modes.c - the two ways of reading QoS 1 acknowledgements
 * with paho's synchronous client (MQTTClient), measured on the library alone
 * (issue 16: which one transports/mqtt_client.c should use):
 *
 *   a  callbacks set (MQTTClient_setCallbacks): paho's receive thread reads
 *      PUBACKs and calls deliveryComplete, which wakes the publisher once
 *      half the window is free;
 *   b  no callbacks: MQTTClient_setPublished counts PUBACKs, read by
 *      MQTTClient_receive(timeout 0) in the publisher's own thread once the
 *      window is full (what mqtt_client.c does, without its poll() between
 *      empty rounds).
 *
 *   bench_mqttclient_modes a|b [--broker=URI] [--count=N] [--window=W] < lines
 *
 * Publishes each input line (up to N) at QoS 1 to "bench-modes/raw/cpu",
 * at most W unconfirmed (paho's maxInflightMessages = W), and prints the time
 * to connect, to publish and see every PUBACK, to disconnect and destroy,
 * and CPU time per message (getrusage: every thread of the process).  A
 * test aid that includes MQTTClient.h outside transports/: it measures the
 * library, not streamctl.  Run it against a quiet broker, modes
 * interleaved.
 */
#include <MQTTClient.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long outstanding;
static int window = 20;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* mode a: paho's receive thread */
static void on_delivered(void *ctx, MQTTClient_deliveryToken token)
{
	(void)ctx;
	(void)token;
	pthread_mutex_lock(&lock);
	if (--outstanding <= window / 2)
		pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

static int on_message(void *ctx, char *topic, int len, MQTTClient_message *m)
{
	(void)ctx;
	(void)len;
	MQTTClient_freeMessage(&m);
	MQTTClient_free(topic);
	return 1;
}

/* mode b: inside MQTTClient_receive, in the publisher's thread */
static void on_published(void *ctx, int msgid, int type, MQTTProperties *props,
			 enum MQTTReasonCodes rc)
{
	(void)ctx;
	(void)msgid;
	(void)type;
	(void)props;
	(void)rc;
	outstanding--;
}

/* mode b: read acknowledgements until at most `until` are outstanding */
static void drain(MQTTClient c, long until)
{
	while (outstanding > until) {
		MQTTClient_message *m = NULL;
		char *topic = NULL;
		int len;

		MQTTClient_receive(c, &topic, &len, &m, 0);
		if (m)
			MQTTClient_freeMessage(&m);
		MQTTClient_free(topic);
	}
}

/* mode a: wait for the callbacks */
static void wait_until(long until)
{
	pthread_mutex_lock(&lock);
	while (outstanding > until)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv)
{
	MQTTClient_createOptions co = MQTTClient_createOptions_initializer;
	MQTTClient_connectOptions o = MQTTClient_connectOptions_initializer5;
	const char *broker = "tcp://127.0.0.1:1883";
	char id[64], **lines, *line = NULL;
	size_t cap = 0;
	double t0, t1, t2, t3, cpu;
	struct rusage ru;
	MQTTResponse r;
	MQTTClient c;
	int n = 100000, got = 0;
	char mode;

	if (argc < 2 || (argv[1][0] != 'a' && argv[1][0] != 'b')) {
		fprintf(stderr, "usage: %s a|b [--broker=URI] [--count=N] [--window=W] < lines\n",
			argv[0]);
		return 64;
	}
	mode = argv[1][0];
	for (int i = 2; i < argc; i++) {
		if (strncmp(argv[i], "--broker=", 9) == 0)
			broker = argv[i] + 9;
		else if (strncmp(argv[i], "--count=", 8) == 0)
			n = atoi(argv[i] + 8);
		else if (strncmp(argv[i], "--window=", 9) == 0)
			window = atoi(argv[i] + 9);
	}
	if (n <= 0 || window <= 0 || !(lines = malloc(sizeof(*lines) * (size_t)n)))
		return 64;
	for (ssize_t len; got < n && (len = getline(&line, &cap, stdin)) > 0; got++) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		lines[got] = strdup(line);
	}
	free(line);
	n = got;

	t0 = now_s();
	co.MQTTVersion = MQTTVERSION_5;
	snprintf(id, sizeof(id), "bench-modes-%ld", (long)getpid());
	if (MQTTClient_createWithOptions(&c, broker, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co))
		return 69;
	if (mode == 'a')
		MQTTClient_setCallbacks(c, NULL, NULL, on_message, on_delivered);
	else
		MQTTClient_setPublished(c, NULL, on_published);
	o.cleanstart = 1;
	o.reliable = 0;
	o.maxInflightMessages = window;
	r = MQTTClient_connect5(c, &o, NULL, NULL);
	if (r.reasonCode != MQTTCLIENT_SUCCESS) {
		fprintf(stderr, "cannot connect to %s: %d\n", broker, r.reasonCode);
		return 69;
	}
	MQTTResponse_free(r);
	t1 = now_s();
	for (int i = 0; i < n; i++) {
		MQTTClient_message m = MQTTClient_message_initializer;
		MQTTClient_deliveryToken token;

		if (mode == 'a') {
			pthread_mutex_lock(&lock);
			while (outstanding >= window)
				pthread_cond_wait(&cond, &lock);
			outstanding++;
			pthread_mutex_unlock(&lock);
		} else {
			if (outstanding >= window)
				drain(c, window / 2);
			outstanding++;
		}
		m.payload = lines[i];
		m.payloadlen = (int)strlen(lines[i]);
		m.qos = 1;
		r = MQTTClient_publishMessage5(c, "bench-modes/raw/cpu", &m, &token);
		if (r.reasonCode != MQTTCLIENT_SUCCESS) {
			fprintf(stderr, "publish %d: %d\n", i, r.reasonCode);
			return 70;
		}
	}
	if (mode == 'a')
		wait_until(0);
	else
		drain(c, 0);
	t2 = now_s();
	MQTTClient_disconnect5(c, 0, MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
	MQTTClient_destroy(&c);
	t3 = now_s();
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("mode=%c count=%d window=%d connect_s=%.3f publish_s=%.3f close_s=%.3f "
	       "total_s=%.3f cpu_s=%.2f cpu_us_per_msg=%.1f vcsw=%ld ivcsw=%ld\n",
	       mode, n, window, t1 - t0, t2 - t1, t3 - t2, t3 - t0, cpu, cpu * 1e6 / n, ru.ru_nvcsw,
	       ru.ru_nivcsw);
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return 0;
}
