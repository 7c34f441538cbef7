"""The training pipeline: data checks, training, evaluation, a quality gate, registration.

`definition` builds the SageMaker Pipelines definition (schema 2020-12-01) by hand: the SDK v3
packages (`sagemaker-mlops`, `sagemaker-core`) do not install with the project's pins (every
`sagemaker-core` 2.x requires rich<14; we pin rich 15). `operations` creates and runs it in
SageMaker; `local` runs the same definition here, each step's container under Docker.
"""
