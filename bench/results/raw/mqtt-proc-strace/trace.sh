#!/bin/bash
sc=$1; ns=tr-$(date +%s%N | tail -c 8)
export STREAMCTL_STATE_DIR=/tmp/exp/$ns/state; mkdir -p /tmp/exp/$ns
$sc sink --transport=mqtt --namespace=$ns --client-id=$ns-sink --db=/tmp/exp/$ns/s.db --idle-exit=4 --progress=never --stats=/dev/null 2>/dev/null &
sp=$!
$sc process --transport=mqtt --namespace=$ns --client-id=$ns-proc --idle-exit=4 --progress=never --stats=/dev/null 2>/dev/null &
pp=$!
sleep 1.5
$sc generate --transport=mqtt --namespace=$ns --client-id=$ns-gen --source=cpu --rate=3000 --duration=8 --progress=never --stats=/dev/null 2>/dev/null &
gp=$!
sleep 2
timeout 4 strace -c -f -p $pp -o /tmp/exp/strace-proc.txt &
timeout 4 strace -c -f -p $sp -o /tmp/exp/strace-sink.txt &
wait $gp $pp $sp
