"""API Gateway's mapping-template variables over a real Velocity engine (airspeed), so that the
templates `expose` writes are evaluated, not only stored (API Gateway developer guide:
"Variables for data transformations", `$input`, `$util`, `$context`).

What the templates rely on, as the guide describes it:
- `$input.body`: the raw payload, as a string;
- `$input.json(x)`: the JSONPath result serialised as JSON (a string keeps its quotes); a path
  that matches nothing gives `""` (the two quote characters: an empty JSON string), which
  templates must test for;
- `$input.path(x)`: the JSONPath result as an object (a number compares as a number);
- `$input.params(name)`: a header, query string or path parameter, "" when absent;
- `$context.requestId`; `$context.responseOverride.status` and `.header.NAME`, which a
  template sets to change the answer;
- `$util.escapeJavaScript`, `$util.parseJson`, `$util.urlEncode`, `$util.base64Encode`.
Only dot-paths (`$.a.b`) are supported: the templates use no other JSONPath. Velocity names may
hold hyphens (`header.Access-Control-Allow-Origin`), airspeed's may not: such a header name is
read with underscores and given back with its hyphens.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import airspeed

_MISSING = object()


def _walk(document: Any, path: str) -> Any:
    if not path.startswith("$"):
        raise ValueError(f"JSONPath {path!r} must start with $")
    found = document
    for key in [k for k in path[1:].split(".") if k]:
        if not isinstance(found, dict) or key not in found:
            return _MISSING
        found = found[key]
    return found


class Input:
    def __init__(self, body: str, params: dict[str, str]) -> None:
        self.body = body
        self._params = params
        try:
            self._document: Any = json.loads(body) if body else {}
        except ValueError:
            self._document = _MISSING

    def json(self, path: str) -> str:
        found = _walk(self._document, path) if self._document is not _MISSING else _MISSING
        return '""' if found is _MISSING else json.dumps(found)

    def path(self, path: str) -> Any:
        found = _walk(self._document, path) if self._document is not _MISSING else _MISSING
        return "" if found is _MISSING else found

    def params(self, name: str) -> str:
        return self._params.get(name, "")


class Util:
    def escapeJavaScript(self, value: str) -> str:  # API Gateway's name
        return json.dumps(value)[1:-1].replace("'", "\\'")

    def parseJson(self, value: str) -> Any:  # API Gateway's name
        return json.loads(value)

    def urlEncode(self, value: str) -> str:  # API Gateway's name
        return urllib.parse.quote(value, safe="")

    def base64Encode(self, value: str) -> str:  # API Gateway's name
        return base64.b64encode(value.encode()).decode()


@dataclass
class Rendered:
    body: str
    status: int | None = None  # $context.responseOverride.status, when the template set it
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def render(template: str, body: str = "", params: dict[str, str] | None = None,
           request_id: str = "req-1") -> Rendered:  # fmt: skip
    override: dict[str, Any] = {"header": {}}
    context = {"requestId": request_id, "responseOverride": override}
    namespace = {"input": Input(body, params or {}), "util": Util(), "context": context}
    readable = re.sub(r"(responseOverride\.header\.)([\w-]+)",
                      lambda m: m.group(1) + m.group(2).replace("-", "__"), template)  # fmt: skip
    text = airspeed.Template(readable).merge(namespace)
    status = override.get("status")
    headers = {name.replace("__", "-"): str(value) for name, value in override["header"].items()}
    return Rendered(text, None if status is None else int(status), headers)
