#!/usr/bin/env bash
# The pipeline over a real Kafka broker (scripts/brokers.sh start kafka):
# both sources and both codecs, a processor killed mid-stream, two
# processors sharing four partitions, and (with the three-node cluster) a
# broker killed mid-stream under replication factor 3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pipeline.sh.inc"
. "$(dirname "$0")/scenarios.sh.inc"
T=kafka

scenario_basic json 2000
scenario_basic msgpack 2000
scenario_kill_processor 3000 400
scenario_two_processors 1500 300 --partitions=4
finish
