#!/usr/bin/env python3
"""Where the time of the peer benchmark's w1 goes, request by request.

Runs the peer harness's latency_server (../shared/bench/latency_server.py) with
a timestamp on every request, points a downloader at the w1 workload (200 x
64 KiB, 50 ms before each response), and splits the wall-clock time of the
connection that finished last into what the client spent and what the server
spent:

  start    launch to that connection's first request (process start, connect)
  rounds   its requests x 50 ms of latency, the ideal
  server   per request, time in the server beyond the 50 ms (parse the
           request, wake up, build and send the response; with 16 requests
           landing together these queue on Python's GIL)
  client   per request, from the end of one response to the next request
  exit     last response to process exit

Usage (from the repository root):
  python3 benches/trace_w1.py [--runs 5] [--peers ../shared/bench] -- \\
      target/release/tget -t 16 -i {LIST} -d {OUT} -q
  python3 benches/trace_w1.py -- wget2 --max-threads=16 -i {LIST} -P {OUT} -q \\
      --no-robots --no-compression

Loopback only; the server and the scratch directory are removed on exit.
"""

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

FILES, SIZE, DELAY_MS = 200, 65536, 50


def traced_server(peers_dir):
    """Starts latency_server in this process, logging every request."""
    sys.path.insert(0, peers_dir)
    import latency_server as ls

    log = []
    lock = threading.Condition()
    parse = ls.Handler.parse_request
    get = ls.Handler.do_GET

    def parse_request(self):
        self.trace_start = time.monotonic()
        return parse(self)

    def do_GET(self):
        get(self)
        with lock:
            log.append((self.client_address[1], self.trace_start, time.monotonic()))
            lock.notify_all()

    ls.Handler.parse_request = parse_request
    ls.Handler.do_GET = do_GET
    server = ls.Server(("127.0.0.1", 0), ls.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, log, lock


def run_once(command, port, scratch, log, lock):
    lst = os.path.join(scratch, "list")
    out = os.path.join(scratch, "out")
    shutil.rmtree(out, ignore_errors=True)
    with open(lst, "w") as f:
        for i in range(FILES):
            f.write(f"http://127.0.0.1:{port}/lat/{DELAY_MS}/{SIZE}/w1_{i:05d}.bin\n")
    argv = [a.replace("{LIST}", lst).replace("{OUT}", out) for a in command]
    with lock:
        log.clear()
    launched = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    exited = time.monotonic()
    with lock:
        # The server logs a request after sending it, which can be after the
        # client has read it and exited.
        lock.wait_for(lambda: len(log) >= FILES, timeout=5)
        rows = list(log)
    if len(rows) != FILES:
        sys.exit(f"expected {FILES} requests, the server saw {len(rows)}")
    return launched, exited, rows


def breakdown(launched, exited, rows):
    by_conn = collections.defaultdict(list)
    for port, start, end in rows:
        by_conn[port].append((start, end))
    last = max(by_conn.values(), key=lambda reqs: max(e for _, e in reqs))
    last.sort()
    ms = lambda s: s * 1000
    server = sum(ms(e - s) - DELAY_MS for s, e in last)
    client = sum(ms(last[i][0] - last[i - 1][1]) for i in range(1, len(last)))
    all_server = [ms(e - s) - DELAY_MS for _, s, e in rows]
    return {
        "wall": ms(exited - launched),
        "conns": len(by_conn),
        "n": len(last),
        "start": ms(last[0][0] - launched),
        "rounds": len(last) * DELAY_MS,
        "server": server,
        "client": client,
        "exit": ms(exited - last[-1][1]),
        "server_median": statistics.median(all_server),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--peers", default=os.path.join(here, "..", "..", "shared", "bench"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=16, help="the -t of the command, for the ideal")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    server, log, lock = traced_server(os.path.abspath(args.peers))
    port = server.server_address[1]
    scratch = tempfile.mkdtemp(prefix="trace-w1-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ideal = -(-FILES // args.threads) * DELAY_MS
    print(f"w1: {FILES} x {SIZE} B, {DELAY_MS} ms each; ideal {ideal} ms; {' '.join(args.command)}")
    print("the connection that finished last:")
    print(f"{'wall ms':>8} {'x ideal':>8} {'conns':>5} | {'start':>6} {'rounds':>7} {'server':>7} {'client':>7} {'exit':>5} | server/request median")
    try:
        results = []
        for _ in range(args.runs):
            b = breakdown(*run_once(args.command, port, scratch, log, lock))
            results.append(b)
            print(f"{b['wall']:8.1f} {b['wall'] / ideal:8.3f} {b['conns']:5d} | {b['start']:6.1f} "
                  f"{b['rounds']:4d}/{b['n']:<2d} {b['server']:7.1f} {b['client']:7.1f} {b['exit']:5.1f} | "
                  f"{b['server_median']:.2f} ms")
        # One whole run, so that its parts add up to its wall time.
        m = sorted(results, key=lambda r: r["wall"])[len(results) // 2]
        client = m["start"] + m["client"] + m["exit"]
        print(f"median run: wall {m['wall']:.1f} ms = {m['wall'] / ideal:.3f} x ideal = "
              f"{m['rounds']} ms of latency + {m['server']:.1f} ms in the server + {client:.1f} ms in the client "
              f"(start {m['start']:.1f}, between requests {m['client']:.1f}, exit {m['exit']:.1f})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        server.shutdown()


if __name__ == "__main__":
    main()
