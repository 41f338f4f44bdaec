"""Named jobs: the runner (leader lock, job runs) and the catalogue of jobs."""
