# The API and the projection worker share this image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY ledger ledger
COPY projections projections
COPY api api
COPY replay replay
COPY scenarios /app/scenarios
RUN pip install --no-cache-dir . && useradd --system --uid 10001 ledger && mkdir /data && chown ledger /data
USER ledger
WORKDIR /data
EXPOSE 8000
CMD ["supply-ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]
