"""Running a benchmark: profiles, the harness that plans cells and makes their records, the job runner,
and the executors that train jobs."""
