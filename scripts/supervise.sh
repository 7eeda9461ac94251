#!/usr/bin/env bash
# Run a command and restart it when it dies on its own (say a worker killed with
# kill -9), as systemd, Kubernetes or docker's restart policy would; `make run`
# uses it for the workers so a lost worker is replaced. SIGTERM/SIGINT stop it.
stop=0
child=0
trap 'stop=1; [ "$child" -gt 0 ] && kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
  "$@" &
  child=$!
  wait "$child"
  rc=$?
  while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
  [ "$stop" = 1 ] && exit 0
  echo "supervise: $1 exited with status $rc; restarting it in 1 s" >&2
  sleep 1
done
