-- What a province publishes to the national database (issue 37; docs/scaling.md): its rollup
-- tables, kept current on the primary by the national_rollups job (service/national/). Run
-- once on the province's primary after `tuitionguard migrate` (wal_level = logical: patroni.yml).
-- tools/cluster/national.py runs this same statement; tests/unit/test_province_files.py holds
-- it to the rollup tables.
CREATE PUBLICATION tg_national FOR TABLE
    national_provinces,
    national_districts,
    national_institutions,
    national_alerts,
    national_wind_downs;
