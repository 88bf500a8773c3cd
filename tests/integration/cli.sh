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
# Only the tests use jansson (to check the codecs against a reference parser):
# neither the binary nor its link line (which --as-needed may hide) names it.
root=$(cd "$(dirname "$0")/../.." && pwd)
check "the binary does not load jansson" sh -c "! ldd '$SC' | grep -q jansson"
check "the binary's link libraries name no jansson" sh -c \
	"make -s --no-print-directory -C '$root' print-LDLIBS | grep -q rdkafka && ! make -s --no-print-directory -C '$root' print-LDLIBS | grep -q jansson"
finish
