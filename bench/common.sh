# Shared by the bench scripts (sourced): stopping what they started, and free ports.
# The script keeps the pids it started in the array `pids`.

# SIGTERM, then SIGKILL if the process is still there after 5 s; the pid is forgotten (the
# exit trap must not signal whoever gets that number next).
stop() {
  local pid=$1 kept=() p
  for p in "${pids[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  pids=("${kept[@]}")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
