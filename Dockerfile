# mentorbot: one image for every replica. Build: docker build -t mentorbot .   Run it all: docker compose up
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json \
    PORT=3978

WORKDIR /app

# Dependencies first, pinned by constraints.txt, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY conversations ./conversations
COPY storage ./storage
RUN pip install -c constraints.txt . \
 && useradd --create-home --uid 10001 --user-group mentorbot \
 && mkdir -p /app/data \
 && chown mentorbot:mentorbot /app/data

# Program rules only: credentials and DATABASE_URL come from the environment at run time, never the image.
COPY app.yaml ./app.yaml

USER mentorbot
EXPOSE 3978

# /healthz answers 200 when the database does; python is in the image, curl is not.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3978'), timeout=4)"]

# Every replica migrates on start: `mentorbot migrate` holds a Postgres advisory lock, so replicas take turns
# and the later ones find the schema current. exec: serve gets SIGTERM itself and drains before exiting.
CMD ["sh", "-c", "mentorbot migrate && exec mentorbot serve"]
