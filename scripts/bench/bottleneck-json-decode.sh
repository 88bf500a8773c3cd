#!/usr/bin/env bash
# scripts/bench/bottleneck-json-decode.sh [PAIRS] - before/after figures for
# the JSON decoder fix "single-pass hand-written decoder (json_scan)
# replaces jansson DOM + lookups"; see bottleneck-decode.sh.
exec "$(dirname "$0")/bottleneck-decode.sh" json "$@"
