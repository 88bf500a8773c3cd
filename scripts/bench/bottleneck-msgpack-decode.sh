#!/usr/bin/env bash
# scripts/bench/bottleneck-msgpack-decode.sh [PAIRS] - before/after figures
# for the MessagePack decoder fix "one pass over the bytes in place"
# (replaces msgpack-c's msgpack_unpack into an object tree); see
# bottleneck-decode.sh.
exec "$(dirname "$0")/bottleneck-decode.sh" msgpack "$@"
