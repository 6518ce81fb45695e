-- job_lease (0012) and job_leased (0010) both held the jobs that are out,
-- and every claim and every answer rewrote an entry in each. The lease
-- releases now find those jobs through job_leased, whose predicate they
-- repeat, so job_lease goes: one index page fewer per claim and per answer.
drop index job_lease;
