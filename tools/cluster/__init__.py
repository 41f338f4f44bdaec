"""A province stack on this machine: scratch PostgreSQL servers, Patroni, etcd, HAProxy."""
