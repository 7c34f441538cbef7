"""Locust load tests for the inference server: traffic, shapes, SLO gate, capacity search, reports.

Modules that import `locust` (which monkey-patches the standard library with gevent) are kept
apart from the pure ones, so the pure logic can be imported and unit-tested anywhere:

    pure:   dataset, traffic, validation, shapes, slo, samples, capacity, charts, summary,
            options, local_server, sagemaker_emulator
    locust: plugin, users, locustfile, sagemaker_locustfile, capacity_runner
"""
