"""A public HTTPS API in front of the SageMaker endpoint: API Gateway, Lambda, teardown."""
