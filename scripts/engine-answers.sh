# Sourced by scripts/dockerd.sh and scripts/podman.sh.
# answers SOCKET: whether a Docker Engine API (Docker's or Podman's) answers /_ping there.
answers() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.exit(0 if data.startswith(b"HTTP/1.") and data.rstrip().endswith(b"OK") else 1)
PY
}
