"""A broker whose ACLs deny the worker's principal Read on a source topic: the worker stops with exit
code 2 and one line naming the topic and what to grant, and a worker started once the broker grants
it reads what the first could not (before: the source consumer's ``TopicAuthorizationFailedError``
crashed the worker with Faust's traceback and exit code 1).

The embedded broker has no authorization: a proxy in front of it answers every fetch of the topic
as a broker with ACLs answers a principal without Read (``ReadDenyingProxy``); every other answer
is the broker's own."""

from __future__ import annotations

import asyncio
import time

import orjson
from proxy_support import ReadDenyingProxy, running
from tests_support import inference, publish_raw, wait_until, written_inferences
from tls_support import other_free_port

from monitor.adapters.local_broker import LocalBroker, free_port
from monitor.adapters.topics import ensure_topics
from monitor.adapters.worker_process import WorkerProcess
from streams.agents import EXIT_REFUSED


def test_a_worker_denied_read_on_a_source_topic_stops_and_says_what_to_grant(
    deployment, start_worker, tmp_path
) -> None:
    proxy_port = free_port()
    broker_port = other_free_port(proxy_port)
    bootstrap = f"127.0.0.1:{proxy_port}"
    topic = deployment.topics["inference"]
    with (
        LocalBroker(broker_port, advertised_port=proxy_port, log_path=tmp_path / "broker.log"),
        running(ReadDenyingProxy(proxy_port, broker_port, topic)) as proxy,
    ):
        asyncio.run(ensure_topics(bootstrap, {topic: deployment.partitions}))
        publish_raw(bootstrap, topic, [orjson.dumps([inference("a", time.time())])])
        # it may stop before it is ready: started as start_worker does, without waiting for that
        env = deployment.env(MONITOR_KAFKA_BOOTSTRAP=bootstrap)
        worker = WorkerProcess(env, tmp_path / "denied.log", free_port()).start()
        try:
            assert worker.process is not None
            assert worker.process.wait(60) == EXIT_REFUSED, f"see {worker.log_path}"
            assert proxy.denied
            lines = worker.log_path.read_text().splitlines()
            assert [line for line in lines if line.startswith("error: ")] == lines[-1:]
            assert lines[-1] == (
                f"error: the Kafka broker refused the source records ([Error 29] "
                f"TopicAuthorizationFailedError: {topic}): the worker's principal needs Read and "
                f"Describe on topic {topic} (docs/SECURITY.md, Kafka ACLs); stopping with its offsets "
                "as committed: a worker started once the broker grants it reads on from them, and "
                "skips what the store holds"
            )
            assert "Traceback" not in "\n".join(lines)
        finally:
            worker.kill()

        proxy.denying = False  # the ACL granted
        again = start_worker(MONITOR_KAFKA_BOOTSTRAP=bootstrap)
        wait_until(lambda: written_inferences(again) == 1, what="the event the refusal left")
        assert again.stop(timeout=30) == 0


def test_a_worker_denied_its_detector_values_stops_and_says_what_to_grant(
    deployment, tmp_path
) -> None:
    """Faust's own consumer meets the refusal (its fetch of the detector-values topic): before, its
    crash ended in Faust's traceback and exit code 1."""
    proxy_port = free_port()
    broker_port = other_free_port(proxy_port)
    topic = f"{deployment.prefix}-app.detector-values"
    with (
        LocalBroker(broker_port, advertised_port=proxy_port, log_path=tmp_path / "broker.log"),
        running(ReadDenyingProxy(proxy_port, broker_port, topic)) as proxy,
    ):
        env = deployment.env(MONITOR_KAFKA_BOOTSTRAP=f"127.0.0.1:{proxy_port}")
        worker = WorkerProcess(env, tmp_path / "denied.log", free_port()).start()
        try:
            assert worker.process is not None
            assert worker.process.wait(60) == EXIT_REFUSED, f"see {worker.log_path}"
        finally:
            worker.kill()
        assert proxy.denied
        last = worker.log_path.read_text().splitlines()[-1]
        assert last == (
            f"error: the Kafka broker refused the worker's Faust consumer ([Error 29] "
            f"TopicAuthorizationFailedError: {topic}): the worker's principal needs Read, Write "
            f"and Describe on topic {topic} (docs/SECURITY.md, Kafka ACLs); stopping with its "
            "offsets as committed: a worker started once the broker grants it goes on from them"
        )
