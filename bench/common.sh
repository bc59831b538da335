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

# Builds and starts the callback receiver (bench/sink.rs) in $tmp: sets sink_url; sink_get PATH
# asks it.
start_sink() {
  sink=$tmp/dq-sink
  rustc -O --edition 2021 bench/sink.rs -o "$sink"
  "$sink" 127.0.0.1:0 >"$tmp/sink.port" 2>"$tmp/sink.log" &
  pids+=($!)
  for _ in $(seq 50); do [[ -s $tmp/sink.port ]] && break; sleep 0.1; done
  sink_url=http://127.0.0.1:$(cat "$tmp/sink.port")
}
sink_get() { curl -fsS "$sink_url$1"; }
