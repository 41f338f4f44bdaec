# PostgreSQL 15 under Patroni, from Debian bookworm's packages: the same versions the local
# stack (tools/cluster/province.py) runs and the failover benchmark measured.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 patroni ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data && chown -R postgres:postgres /var/lib/postgresql
COPY patroni.yml /etc/patroni/patroni.yml
USER postgres
EXPOSE 5432 8008
CMD ["patroni", "/etc/patroni/patroni.yml"]
