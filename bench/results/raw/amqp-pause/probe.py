#!/usr/bin/env python3
"""probe.py DIR: machine stall probe, run beside the pipeline.  Thread 1
sleeps 5 ms in a loop and logs every wake-up more than 30 ms late (a stall
of the whole machine: vCPU steal, scheduler); thread 2 appends 100 bytes to
DIR/fsync-probe and fsyncs it every 100 ms and logs every fsync over 30 ms
(a stall of the file system journal, which RabbitMQ's and SQLite's fsyncs
wait on too).  Lines: epoch_s kind ms."""
import os, sys, threading, time
d = sys.argv[1]
def sched():
    while True:
        t = time.time(); time.sleep(0.005); late = (time.time() - t - 0.005) * 1000
        if late > 30: print(f"{t:.3f} sched_late {late:.1f}", flush=True)
def fs():
    fd = os.open(os.path.join(d, "fsync-probe"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    while True:
        os.write(fd, b"x" * 100); t = time.time(); os.fsync(fd); ms = (time.time() - t) * 1000
        if ms > 30: print(f"{t:.3f} fsync {ms:.1f}", flush=True)
        time.sleep(0.1)
threading.Thread(target=fs, daemon=True).start()
sched()
