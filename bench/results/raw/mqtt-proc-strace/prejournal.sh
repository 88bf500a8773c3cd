#!/bin/bash
# strace -c the processor of a 5 s run at 5k/s; $1 = binary
SC=$1; ns=st$RANDOM$$; d=/tmp/st-$ns; mkdir -p $d; export STREAMCTL_STATE_DIR=$d/state
common=(--transport=mqtt --namespace=$ns --progress=never --stats=/dev/null)
$SC sink "${common[@]}" --client-id=$ns-sink --db=$d/s.db --idle-exit=3 2>$d/sink.err &
strace -c -f -o $d/proc.strace $SC process "${common[@]}" --client-id=$ns-proc --idle-exit=3 2>$d/proc.err &
sleep 1.5
$SC generate "${common[@]}" --client-id=$ns-gen --source=cpu --rate=5000 --duration=5 2>$d/gen.err
wait
cat $d/proc.strace
rm -rf $d
