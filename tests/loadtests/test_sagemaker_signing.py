"""The SageMaker stand-in checks SigV4 the way the service does: recomputed, not just present."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from loadtests.sagemaker_emulator import EmulatorConfig, signature_problem

URL = "http://127.0.0.1:9/endpoints/demo/invocations"
BODY = b'{"inputs": "hello"}'
CONFIG = EmulatorConfig("http://127.0.0.1:1", "demo", access_key="AKIDTEST", secret_key="s3cret")


def _signed(secret: str, service: str = "sagemaker", body: bytes = BODY) -> dict[str, str]:
    request = AWSRequest(
        method="POST", url=URL, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials("AKIDTEST", secret), service, "us-east-1").add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


def test_a_correct_signature_passes() -> None:
    assert signature_problem(CONFIG, "POST", URL, _signed("s3cret"), BODY) is None


def test_wrong_secret_tampered_body_or_service_fail() -> None:
    assert (
        signature_problem(CONFIG, "POST", URL, _signed("guess"), BODY) == "signature does not match"
    )
    assert (
        signature_problem(CONFIG, "POST", URL, _signed("s3cret"), b'{"inputs": "bye"}')
        == "signature does not match"
    )
    assert "expected 'sagemaker'" in (
        signature_problem(CONFIG, "POST", URL, _signed("s3cret", "s3"), BODY) or ""
    )
    assert "missing" in (signature_problem(CONFIG, "POST", URL, {}, BODY) or "")
