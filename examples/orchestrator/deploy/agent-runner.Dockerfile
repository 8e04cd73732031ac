# agent-runner: Python with Debian's python3-redis (no PyPI needed).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-redis \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home app
WORKDIR /app
COPY agent-runner/agent_runner/ agent_runner/
USER app
ENV PYTHONUNBUFFERED=1
CMD ["python3", "-m", "agent_runner"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8086'), timeout=3)"]
