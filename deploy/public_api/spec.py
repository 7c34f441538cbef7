"""What `deploy expose` builds, validated before the first AWS call, and the names it uses.

The API Gateway flavour follows from the authentication and the integration:

| auth      | with Lambda | --no-lambda | why                                                        |
| --------- | ----------- | ----------- | ---------------------------------------------------------- |
| `api-key` | REST API    | REST API    | API keys and usage plans (quota, per-key throttle) exist only on REST APIs |
| `iam`     | HTTP API    | REST API    | HTTP APIs sign-check with SigV4 at a third of the price; only REST APIs integrate with the SageMaker runtime directly |
| `jwt`     | HTTP API    | refused     | the JWT authorizer is an HTTP API feature; REST APIs only check Cognito tokens |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from deploy.errors import ConfigError

Auth = Literal["api-key", "iam", "jwt"]
Flavour = Literal["rest", "http"]
AUTH_CHOICES: tuple[Auth, ...] = ("api-key", "iam", "jwt")

# API Gateway's hard integration timeouts: REST 29 s (by default), HTTP API 30 s.
INTEGRATION_TIMEOUT_MS: dict[Flavour, int] = {"rest": 29_000, "http": 30_000}
# Lambda needs a little over the model's time for its own start and the JSON work.
LAMBDA_OVERHEAD_S = 2
REST_STAGE = "prod"
HTTP_STAGE = "$default"
# The longest suffix we add (IAM role names are at most 64 characters).
_LONGEST_SUFFIX = "-public-api-gateway"
MAX_ENDPOINT_NAME = 64 - len(_LONGEST_SUFFIX)
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


@dataclass(frozen=True)
class Names:
    """Every name `expose` gives, derived from the endpoint so `unexpose` finds them again."""

    endpoint: str

    @property
    def api(self) -> str:
        return f"{self.endpoint}-public-api"

    @property
    def function(self) -> str:
        return f"{self.endpoint}-public-api"

    @property
    def lambda_role(self) -> str:
        return f"{self.endpoint}-public-api-lambda"

    @property
    def gateway_role(self) -> str:
        return f"{self.endpoint}-public-api-gateway"

    @property
    def usage_plan(self) -> str:
        return f"{self.endpoint}-public-api"

    @property
    def api_key(self) -> str:
        return f"{self.endpoint}-public-api-key"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @property
    def role_policy(self) -> str:
        return "invoke-one-endpoint"


@dataclass(frozen=True)
class ExposeSpec:
    endpoint: str
    auth: Auth = "api-key"
    use_lambda: bool = True
    cors_origins: tuple[str, ...] = ()
    rate_per_s: float = 10.0
    burst: int = 20
    quota_per_day: int = 10_000
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()
    model_timeout_s: int = 25
    max_body_kb: int = 256
    max_texts: int = 64
    log_retention_days: int = 14
    # An inference-component endpoint answers only calls that name the component.
    component: str | None = None

    @property
    def names(self) -> Names:
        return Names(self.endpoint)

    @property
    def flavour(self) -> Flavour:
        if self.auth == "api-key" or not self.use_lambda:
            return "rest"
        return "http"

    @property
    def stage(self) -> str:
        return REST_STAGE if self.flavour == "rest" else HTTP_STAGE

    @property
    def integration_timeout_ms(self) -> int:
        return INTEGRATION_TIMEOUT_MS[self.flavour]

    @property
    def lambda_timeout_s(self) -> int:
        return self.model_timeout_s + LAMBDA_OVERHEAD_S

    def validate(self) -> ExposeSpec:
        if len(self.endpoint) > MAX_ENDPOINT_NAME:
            raise ConfigError(
                f"--endpoint {self.endpoint!r}: at most {MAX_ENDPOINT_NAME} characters to expose "
                f"(role names like {self.names.gateway_role!r} must fit in 64)"
            )
        if self.auth not in AUTH_CHOICES:
            raise ConfigError(f"--auth must be one of {', '.join(AUTH_CHOICES)}")
        if self.auth == "jwt":
            if not self.use_lambda:
                raise ConfigError(
                    "--auth jwt needs the HTTP API flavour, which cannot call SageMaker without "
                    "Lambda: drop --no-lambda, or use --auth api-key or iam"
                )
            issuer = urlsplit(self.jwt_issuer or "")
            if issuer.scheme != "https" or not issuer.netloc:
                raise ConfigError("--auth jwt needs --jwt-issuer https://... (the token's iss)")
            if not self.jwt_audience:
                raise ConfigError("--auth jwt needs --jwt-audience (repeatable: the token's aud)")
        elif self.jwt_issuer or self.jwt_audience:
            raise ConfigError("--jwt-issuer and --jwt-audience apply to --auth jwt only")
        for origin in self.cors_origins:
            if origin != "*" and not _ORIGIN.match(origin):
                raise ConfigError(
                    f"--cors-origin {origin!r} must be * or scheme://host[:port], no path"
                )
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ConfigError("--cors-origin * allows every origin: give it alone")
        if not 0 < self.rate_per_s <= 10_000 or not 0 < self.burst <= 5_000:
            raise ConfigError(
                "--rate must be in (0, 10000] and --burst in [1, 5000] (the account defaults)"
            )
        if self.quota_per_day < 1:
            raise ConfigError("--quota must be at least 1 request per day")
        ceiling = self.integration_timeout_ms // 1000 - LAMBDA_OVERHEAD_S - 1
        if not 1 <= self.model_timeout_s <= ceiling:
            raise ConfigError(
                f"--model-timeout must be 1-{ceiling} s: the {self.flavour.upper()} API cuts "
                f"every request at {self.integration_timeout_ms // 1000} s"
            )
        if not 1 <= self.max_body_kb <= 6 * 1024 - 64:
            raise ConfigError("--max-body-kb must be 1-6080 (Lambda and SageMaker stop at 6 MB)")
        if not 1 <= self.max_texts <= 4096:
            raise ConfigError("--max-texts must be 1-4096")
        return self
