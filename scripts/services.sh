#!/usr/bin/env bash
# Start the services the tests talk to (PostgreSQL, NATS JetStream, Mosquitto) if they are not running.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do up "$port" && return 0; sleep 0.5; done
  echo "$name did not come up on port $port" >&2
  return 1
}

if ! up 5432; then
  if command -v pg_lsclusters >/dev/null 2>&1; then
    version=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  wait_for 5432 PostgreSQL || exit 1
fi

if ! up 4222; then
  if command -v nats-server >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- -a 127.0.0.1 -p 4222 -js
    wait_for 4222 NATS || exit 1
  else
    echo "nats-server is not installed; NATS tests will fail" >&2
  fi
fi

if ! up 1883; then
  if command -v mosquitto >/dev/null 2>&1; then
    mosquitto -d
    wait_for 1883 Mosquitto || exit 1
  else
    echo "mosquitto is not installed; MQTT tests will fail" >&2
  fi
fi
echo "services: PostgreSQL, NATS and Mosquitto are up"
