#!/usr/bin/env bash
# CLI behaviour of the binary: help, version, usage errors and exit codes.
. "$(dirname "$0")/lib.sh"

check "--help lists the roles" sh -c "'$SC' --help | grep -q 'generate' && '$SC' --help | grep -q verify"
check "role --help lists its options" sh -c "'$SC' sink --help | grep -q -- '--db=PATH'"
check "--version prints the version" sh -c "'$SC' --version | grep -Eq '^streamctl [0-9]+\.[0-9]+'"
check_exit 64 "unknown role exits 64" "$SC" frobnicate
check_grep "unknown role names it" "unknown role 'frobnicate'" "$WORK/last.out"
check_grep "usage hint follows" "try 'streamctl --help'" "$WORK/last.out"
check_exit 64 "no role exits 64" "$SC"
check_exit 64 "unknown transport exits 64" "$SC" generate --transport=zmq --count=1
check_grep "unknown transport names it" "unknown transport 'zmq'" "$WORK/last.out"
check_exit 64 "unknown codec exits 64" "$SC" generate --codec=xml --count=1
check_grep "unknown codec names it" "unknown codec 'xml'" "$WORK/last.out"
check_exit 64 "unknown option exits 64" "$SC" process --frobnicate
check_grep "unknown option names it" "unknown option '--frobnicate'" "$WORK/last.out"
check_exit 64 "option of another role exits 64" "$SC" generate --db=x.db
check_exit 64 "bad number exits 64" "$SC" generate --count=many
check_grep "bad number names the option" "for --count" "$WORK/last.out"
check_exit 64 "bad environment value exits 64" env STREAMCTL_RATE=fast "$SC" generate
check_grep "bad environment value names the variable" "STREAMCTL_RATE" "$WORK/last.out"
lines=$("$SC" generate --codec=xml 2>&1 | wc -l)
check_eq "a usage error is one line plus the hint" 2 "$lines"
check_exit 66 "verify of a missing database fails" "$SC" verify --db="$WORK/nope.db"
check_grep "verify names the missing database" "nope.db" "$WORK/last.out"
check "verify creates no file" test ! -e "$WORK/nope.db"
check_exit 65 "the pipe transport refuses a broker uri" "$SC" generate --transport=pipe --broker=kafka://x --count=1
check "print-config shows env names" sh -c "'$SC' process --print-config | grep -q '^STREAMCTL_TRANSPORT=pipe$'"
check "print-config reflects the environment" sh -c "STREAMCTL_NAMESPACE=abc '$SC' sink --print-config | grep -q '^STREAMCTL_NAMESPACE=abc$'"
# Backend options come from the backend's table (transports/<name>.c): help,
# print-config, STREAMCTL_<BACKEND>_<KEY>, one-line errors for a mistyped key or value.
check "role --help lists a backend option" sh -c "'$SC' process --help | grep -q -- '-X keepalive=N' && '$SC' process --help | grep -q STREAMCTL_MQTT_KEEPALIVE"
check "print-config shows a backend option" sh -c "'$SC' process --transport=mqtt --print-config | grep -q '^STREAMCTL_MQTT_KEEPALIVE=30$'"
check "a backend option is taken from its variable" sh -c "STREAMCTL_AMQP_HEARTBEAT=7 '$SC' sink --transport=amqp --print-config | grep -q '^STREAMCTL_AMQP_HEARTBEAT=7$'"
check_exit 64 "a mistyped backend option exits 64" "$SC" process --transport=mqtt -X kepalive=9
check_grep "the mistyped option is named" "mqtt: unknown -X key 'kepalive'" "$WORK/last.out"
lines=$("$SC" process --transport=mqtt -X kepalive=9 2>&1 | wc -l)
check_eq "a mistyped backend option is one line plus the hint" 2 "$lines"
check_exit 64 "a bad backend option value exits 64" env STREAMCTL_AMQP_HEARTBEAT=nope "$SC" sink --transport=amqp
check_grep "the bad value is named" "amqp: -X heartbeat=nope: expected an integer from 0 to 3600" "$WORK/last.out"
# The flags that were shared settings come from the backends' tables too
# (transport_opt.flag): each sets the selected transport's own option.
check "a shared flag sets the backend's option" sh -c "'$SC' sink --transport=amqp --prefetch=50 --quorum --print-config | grep -q '^STREAMCTL_AMQP_PREFETCH=50$' && '$SC' sink --transport=amqp --quorum --print-config | grep -q '^STREAMCTL_AMQP_QUORUM=true$'"
check "the same flag, another backend's option" sh -c "'$SC' generate --transport=amqp --inflight=9 --print-config | grep -q '^STREAMCTL_AMQP_CONFIRM_WINDOW=9$' && '$SC' generate --transport=mqtt --inflight=9 --print-config | grep -q '^STREAMCTL_MQTT_INFLIGHT=9$'"
check "a shared flag's variable sets the backend's option" sh -c "STREAMCTL_PARTITIONS=6 STREAMCTL_REPLICATION_FACTOR=3 '$SC' process --transport=kafka --print-config | grep -q '^STREAMCTL_KAFKA_REPLICATION_FACTOR=3$'"
check "role --help lists a shared flag with its backend option" sh -c "'$SC' generate --help | grep -q 'also --qos=N, env STREAMCTL_QOS'"
check_exit 64 "a flag the transport does not have exits 64" "$SC" generate --transport=kafka --qos=1
check_grep "the flag and the transport are named" "generate: option '--qos' does not apply to transport 'kafka' .only to mqtt." "$WORK/last.out"
check "the variable of a flag the transport lacks is ignored" env STREAMCTL_QOS=1 "$SC" process --transport=kafka --print-config
# Only the tests use jansson (to check the codecs against a reference parser):
# neither the binary nor its link line (which --as-needed may hide) names it.
root=$(cd "$(dirname "$0")/../.." && pwd)
check "the binary does not load jansson" sh -c "! ldd '$SC' | grep -q jansson"
check "the binary's link libraries name no jansson" sh -c \
	"make -s --no-print-directory -C '$root' print-LDLIBS | grep -q rdkafka && ! make -s --no-print-directory -C '$root' print-LDLIBS | grep -q jansson"
finish
