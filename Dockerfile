FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml alembic.ini ./
COPY ledger ledger
COPY service service
COPY tgproof tgproof
COPY tools tools
COPY alembic alembic
RUN pip install --no-cache-dir -e . && useradd --system tuitionguard
USER tuitionguard
EXPOSE 8000
CMD ["tuitionguard", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-scheduler"]
