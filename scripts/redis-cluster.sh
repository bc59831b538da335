#!/usr/bin/env bash
# A private Redis Cluster on loopback, for tests: never the shared Redis.
#
#   scripts/redis-cluster.sh start DIR [MASTERS [REPLICAS]]   prints its redis+cluster:// URL
#   scripts/redis-cluster.sh stop DIR                          stops every node, removes DIR
#
# Nodes get free ports below the ephemeral range (each node's bus listens 10000 above), their files in DIR
# (pid, log, nodes.conf), no persistence, and a node timeout of 1 s so that failovers are quick.
# `start` returns once every slot is served, every node agrees and every replica is in sync.
set -euo pipefail
command=${1:?usage: redis-cluster.sh start|stop DIR [MASTERS [REPLICAS]]}
dir=${2:?usage: redis-cluster.sh start|stop DIR [MASTERS [REPLICAS]]}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
  local pidfile pid
  for pidfile in "$dir"/redis-*.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(<"$pidfile")
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}

case $command in
stop)
  stop
  ;;
start)
  masters=${3:-3}
  replicas=${4:-1}
  count=$((masters * (1 + replicas)))
  mkdir -p "$dir"
  trap 'stop; exit 1' ERR
  # Below the kernel's ephemeral range, bus ports included: a port a client happens to hold
  # for an outgoing connection cannot be bound by a node.
  read -r ephemeral _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ephemeral=32768
  ((ephemeral > 55535)) && ephemeral=55535
  span=$((ephemeral - 10000 - 11000))
  ((span >= 1000)) || span=1000
  ports=()
  while ((${#ports[@]} < count)); do
    port=$((11000 + RANDOM % span))
    [[ " ${ports[*]} " == *" $port "* ]] && continue
    listening "$port" || listening $((port + 10000)) && continue
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
      --pidfile "$dir/redis-$port.pid" --logfile "$dir/redis-$port.log" \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" \
      --cluster-node-timeout 1000 --save '' --appendonly no --dbfilename "dump-$port.rdb" || continue
    up=false
    for _ in $(seq 100); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && { up=true; break; }
      sleep 0.05
    done
    if $up; then
      ports+=("$port")
    else
      # Taken meanwhile (or refused): that port's node goes, another port is tried.
      [[ -f $dir/redis-$port.pid ]] && kill -9 "$(<"$dir/redis-$port.pid")" 2>/dev/null || true
      rm -f "$dir/redis-$port.pid"
    fi
  done
  nodes=()
  for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes \
    >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; false; }
  ready=false
  for _ in $(seq 300); do
    ready=true
    for port in "${ports[@]}"; do
      info=$(redis-cli -p "$port" cluster info 2>/dev/null || true)
      [[ $info == *"cluster_state:ok"* && $info == *"cluster_known_nodes:$count"* ]] || ready=false
      role=$(redis-cli -p "$port" info replication 2>/dev/null || true)
      if [[ $role == *"role:slave"* && $role != *"master_link_status:up"* ]]; then ready=false; fi
    done
    $ready && break
    sleep 0.1
  done
  $ready || { echo "redis-cluster.sh: the cluster in $dir did not come up within 30 s" >&2; false; }
  printf '%s\n' "${ports[@]}" >"$dir/ports"
  url=redis+cluster://
  for port in "${ports[@]:0:masters}"; do url+="127.0.0.1:$port,"; done
  echo "${url%,}"
  ;;
*)
  echo "usage: redis-cluster.sh start|stop DIR [MASTERS [REPLICAS]]" >&2
  exit 2
  ;;
esac
