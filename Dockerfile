FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY core core
COPY api api
COPY cli cli
COPY worker worker
COPY routing routing
COPY mapping mapping
COPY connectors connectors
COPY migrations migrations
COPY omniroute omniroute
RUN pip install --no-cache-dir .
RUN useradd --system omniroute \
    && mkdir -p /var/lib/omniroute/metrics && chown omniroute /var/lib/omniroute/metrics
USER omniroute
EXPOSE 8000
CMD ["omniroute", "serve", "--host", "0.0.0.0", "--port", "8000"]
