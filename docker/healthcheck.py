"""Container HEALTHCHECK: exit 0 only when /ping answers 200 (model loaded and warmed up)."""

import os
import sys
import urllib.error
import urllib.request

port = os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080")
# No proxy for loopback, whatever the environment says.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError) as exc:
    print(f"/ping: {exc}")
    sys.exit(1)
