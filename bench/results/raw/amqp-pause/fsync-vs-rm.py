#!/usr/bin/env python3
"""fsync-vs-rm.py DIR SIZE_MB [REPS]: does deleting a big file stall other
files' fsync on this file system?  A probe thread appends 200 bytes + fsync to
DIR/probe every 2 ms (as RabbitMQ and SQLite do) and records each fsync's
time; the main thread, REPS times: writes SIZE_MB to DIR/big and fsyncs it
(as the sink's 8 kHz DB is), waits 3 s, deletes it (as the benchmark does
after each run), waits 5 s.  Prints the probe's max fsync time in the 3 s
before each rm and in the 5 s after it."""
import os, sys, threading, time
d, mb = sys.argv[1], int(sys.argv[2]); reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
lat = []; stop = False
def probe():
    fd = os.open(os.path.join(d, "probe"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    while not stop:
        os.write(fd, b"x" * 200); t = time.time(); os.fsync(fd); lat.append((t, time.time() - t)); time.sleep(0.002)
    os.close(fd); os.unlink(os.path.join(d, "probe"))
th = threading.Thread(target=probe); th.start()
def mx(a, b): return max([l for t, l in lat if a <= t < b] or [0]) * 1000
try:
    for r in range(reps):
        p = os.path.join(d, "big"); buf = os.urandom(1 << 20)
        with open(p, "wb") as f:
            for _ in range(mb): f.write(buf)
            f.flush(); os.fsync(f.fileno())
        time.sleep(3); t0 = time.time(); os.unlink(p); t1 = time.time(); time.sleep(5)
        print(f"rep {r} {mb} MB: rm took {(t1-t0)*1000:.1f} ms; probe fsync max {mx(t0-3, t0):.1f} ms in the 3 s before rm, "
              f"{mx(t0, t0+5):.1f} ms in the 5 s after (n={len([1 for t,_ in lat if t0<=t<t0+5])})", flush=True)
finally:
    stop = True; th.join()
