#!/usr/bin/env bash
# Start or stop a Docker daemon by hand on machines without an init system (CI, sandboxes).
#
#   scripts/dockerd.sh start   # no-op when a daemon already answers; else start one, record its pid
#   scripts/dockerd.sh stop    # stop only the daemon this script started (by its recorded pid)
#
# A daemon killed with SIGKILL leaves a mount on /var/lib/docker behind, so stop sends SIGTERM
# and waits for the process to exit.
set -euo pipefail

PIDFILE=${DOCKERD_PIDFILE:-/tmp/headline-serve-dockerd.pid}
LOGFILE=${DOCKERD_LOG:-/tmp/headline-serve-dockerd.log}

answers() { docker info >/dev/null 2>&1; }

start() {
    if answers; then
        echo "dockerd: a daemon is already running; using it"
        return 0
    fi
    command -v dockerd >/dev/null || { echo "dockerd: not installed (run scripts/docker-install.sh)" >&2; exit 1; }
    [ "$(id -u)" = 0 ] || { echo "dockerd: starting a daemon needs root" >&2; exit 1; }
    dockerd >"$LOGFILE" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 120); do
        if answers; then
            echo "dockerd: started (pid $(cat "$PIDFILE"), log $LOGFILE)"
            return 0
        fi
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
        sleep 0.5
    done
    echo "dockerd: did not come up; last log lines:" >&2
    tail -n 20 "$LOGFILE" >&2
    exit 1
}

stop() {
    if [ ! -f "$PIDFILE" ]; then
        echo "dockerd: not started by this script; leaving it alone"
        return 0
    fi
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "dockerd: pid $pid still running 30 s after SIGTERM" >&2
            exit 1
        fi
    fi
    rm -f "$PIDFILE"
    echo "dockerd: stopped (pid $pid)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
