#!/bin/sh
# The images' entrypoint. SageMaker runs `docker run IMAGE serve` for endpoints and
# `docker run IMAGE train` for training jobs; any other command runs as given (debugging).
# `exec` keeps the Python process as PID 1 so SIGTERM from `docker stop` reaches it directly.
set -e
cmd=${1:-serve}
[ $# -gt 0 ] && shift
case "$cmd" in
    serve | train)
        if ! command -v "$cmd" >/dev/null 2>&1; then
            echo "error: this image has no '$cmd' command (the serving and training images are separate)" >&2
            exit 2
        fi
        ;;
esac
exec "$cmd" "$@"
