"""A Python client for headline-serve: a server's URL or a SageMaker endpoint, sync or async.

from headline_client import Client
with Client("http://127.0.0.1:8080") as client:
    print(client.classify(["Stocks rally as rates hold", ("A man eats", "Someone eats")]))
"""

from headline_client.client import AsyncClient, Client
from headline_client.retry import RetryPolicy
from headline_client.transport import SageMakerTarget
from headline_client.types import (
    Answer,
    MultiLabelPrediction,
    Prediction,
    RerankResult,
    ServerError,
    TextOrPair,
)

__all__ = [
    "Answer",
    "AsyncClient",
    "Client",
    "MultiLabelPrediction",
    "Prediction",
    "RerankResult",
    "RetryPolicy",
    "SageMakerTarget",
    "ServerError",
    "TextOrPair",
]
