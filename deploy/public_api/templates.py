"""API Gateway mapping templates (VTL) and schemas for the REST API flavours.

Only the direct SageMaker integration (`--no-lambda`) and CORS preflights need templates; the
Lambda proxy integration hands the whole request to the handler.
"""

from __future__ import annotations

import json

from deploy.public_api.spec import ExposeSpec

# The public JSON into the server's contract, as the Lambda handler does it. `$input.json` of
# a field that is not there is `""` (an empty JSON string, quotes included), or "" or "null"
# as some write it: all three mean absent.
DIRECT_REQUEST = """\
#set($texts = $input.json('$.texts'))
#if($texts == "" || $texts == '""' || $texts == "null")#set($texts = "[$input.json('$.text')]")#end
#set($topk = $input.json('$.top_k'))
{"inputs": $texts#if($topk != "" && $topk != '""' && $topk != "null"), "parameters": {"top_k": $topk}#end}"""

DIRECT_SUCCESS = '{"predictions": $input.body, "request_id": "$context.requestId"}'

# SageMaker's 424 ModelError carries the container's status: 4xx, 503 and 504 pass through,
# any other 5xx becomes 502. The message is the container's error body, as a string.
DIRECT_MODEL_ERROR = """\
#set($status = $input.path('$.OriginalStatusCode'))
#if(($status >= 400 && $status < 500) || $status == 503 || $status == 504)
#set($context.responseOverride.status = $status)
#else
#set($context.responseOverride.status = 502)
#end
{"error": $input.json('$.OriginalMessage'), "type": "model_error", "request_id": "$context.requestId"}"""


def error_body(kind: str, message: str) -> str:
    return (
        '{"error": ' + json.dumps(message) + ', "type": "' + kind + '", '
        '"request_id": "$context.requestId"}'
    )


# Integration responses of the direct integration: SageMaker status (regex) -> (our status,
# body). The patterns do not overlap: API Gateway does not promise an order between them.
# Integration responses are keyed by status, so ModelError has its own (424) slot; its
# template always sets the status the caller sees.
DIRECT_ERRORS: list[tuple[str, str, str]] = [
    ("424", "424", DIRECT_MODEL_ERROR),
    ("413", "413", error_body("payload_too_large", "the body is over SageMaker's 6 MB limit")),
    ("429", "429", error_body("throttled", "SageMaker is throttling: retry later")),
    (
        r"4(0\d|1[0-24-9]|2[0-35-9]|[3-9]\d)|5\d{2}",
        "502",
        error_body("upstream_error", "SageMaker refused the call"),
    ),
]

HEALTH = '{"status": "ok", "request_id": "$context.requestId"}'


def request_schema(spec: ExposeSpec) -> str:
    """JSON schema (draft 4) that API Gateway checks before calling SageMaker directly."""
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "ClassifyRequest",
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": 1},
            "texts": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "maxItems": spec.max_texts,
            },
            "top_k": {"type": "integer", "minimum": 1},
        },
        "oneOf": [{"required": ["text"]}, {"required": ["texts"]}],
    }
    return json.dumps(schema)


def origin_override(origins: tuple[str, ...]) -> str:
    """VTL that echoes the caller's Origin when it is listed (one origin per answer)."""
    if len(origins) < 2:
        return ""
    test = " || ".join(f'$origin == "{origin}"' for origin in origins)
    return (
        "#set($origin = $input.params('Origin'))\n"
        f"#if({test})#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)"
        "#end\n"
    )


def static_origin(origins: tuple[str, ...]) -> str | None:
    """The fixed Access-Control-Allow-Origin value, when there is one (one origin, or *)."""
    return f"'{origins[0]}'" if len(origins) == 1 else None
