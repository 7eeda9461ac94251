# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app
RUN useradd --create-home --uid 1000 quorum
# WeasyPrint (PDF reports) needs Pango, HarfBuzz and fonts (scripts/ensure-weasyprint.sh).
COPY scripts/ensure-weasyprint.sh scripts/
RUN bash scripts/ensure-weasyprint.sh && rm -rf /var/lib/apt/lists/*

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Static files are collected into the image and served by WhiteNoise.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-not-a-real-key python manage.py collectstatic --noinput \
    && mkdir -p /app/.state && chown quorum /app/.state

USER quorum
EXPOSE 8000
CMD ["uvicorn", "webapp.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--no-server-header"]
