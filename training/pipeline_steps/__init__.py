"""The training image's steps of the SageMaker pipeline (deploy/pipeline): data checks and a
stratified split before training, and the evaluation of the exported model after it.

Both run as processing jobs: `python -m training.pipeline_steps prepare|evaluate ...`, reading
and writing under /opt/ml/processing/ and leaving a one-line reason in /opt/ml/output/message
when they fail (SageMaker shows it as the job's ExitMessage).
"""
