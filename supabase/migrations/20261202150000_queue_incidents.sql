-- The sweep's further invocations come from Vercel Queues: a seat whose every delivery failed
-- is an incident of its own kind (app/sync/fanout.py). invocations_started now counts the
-- cron's own invocation and the seats the queue holds for the sweep.
alter table jessie.incidents drop constraint incidents_kind_check;
alter table jessie.incidents add constraint incidents_kind_check
    check (kind in ('timeout', 'crash', 'cron_error', 'run_failed', 'cron_missed', 'queue_gave_up'));
comment on column jessie.sweeps.invocations_started is
    'the cron''s own invocation and the worker seats published to Vercel Queues';
