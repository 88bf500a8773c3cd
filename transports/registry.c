/*
 * registry.c - the backends built into this binary.
 *
 * A backend that is not listed here is reported as "not built in" by
 * transport_find(); names that no backend has are "unknown".
 */
#include "transport.h"

extern const struct transport_ops transport_pipe;
extern const struct transport_ops transport_kafka;
extern const struct transport_ops transport_amqp;
extern const struct transport_ops transport_mqtt;
extern const struct transport_ops transport_fault;

const struct transport_ops *const transport_backends[] = {
	&transport_pipe, &transport_kafka, &transport_amqp, &transport_mqtt, &transport_fault, NULL,
};

/* Every name a user may give, built in or not, for clear errors. */
const char *const transport_known_names[] = {"pipe", "kafka", "amqp", "mqtt", "fault", NULL};
