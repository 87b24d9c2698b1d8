#!/usr/bin/env python3
"""A warm sandbox's latency, paced: `nodecell serve --backend B --pool-size 1`, then N requests
of `return 1`, each PACE seconds after the last answer (time for the pool to start the next
sandbox), client-side latency and the server-reported sandbox wall time. For backends whose
sandbox start is slow (qemu boots a VM: seconds under TCG), where bench/service.py's pacing
(100 ms) would measure boots instead.

    python3 bench/warm_paced.py BACKEND N PACE_S
"""
import http.client, json, os, statistics, subprocess, sys, time
backend, n, pace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
port = 18610 if backend == "qemu" else 18620
env = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
srv = subprocess.Popen(["target/release/nodecell", "serve", "--backend", backend, "--pool-size", "1",
                        "--http-listen", f"127.0.0.1:{port}", "--grpc-listen", f"127.0.0.1:{port+1}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
try:
    t0 = time.time()
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5); c.request("GET", "/readyz")
            if c.getresponse().status == 200: break
        except Exception: pass
        if time.time() - t0 > 120: sys.exit("not ready")
        time.sleep(0.1)
    lat, walls = [], []
    for i in range(n):
        time.sleep(pace)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"code": "return 1"})
        t = time.perf_counter()
        c.request("POST", "/v1/execute", body, {"content-type": "application/json"})
        r = json.loads(c.getresponse().read())
        lat.append((time.perf_counter() - t) * 1e3)
        assert r["status"] == "ok", r
        walls.append(r["usage"]["wall_ms"])
    print(f"{backend}: paced every {pace} s, n={n}: p50 {statistics.median(lat):.1f} ms, max {max(lat):.1f} ms; sandbox wall p50 {statistics.median(walls):.1f} ms")
finally:
    srv.terminate(); srv.wait()
