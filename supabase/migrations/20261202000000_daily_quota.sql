-- Gmail's daily threshold per project (the 2026 model: 80,000,000 units a day, billing beyond
-- it). The units a day has spent are the finished account rows' units since midnight Pacific
-- time (Google Cloud's day), so those rows are read by when they finished; a run records how
-- many first syncs it held back to spread them over the day.
create index sync_run_accounts_finished on jessie.sync_run_accounts (finished_at);
alter table jessie.sync_runs add column accounts_held integer not null default 0;

-- Fluid compute runs several invocations in one process, sharing its pool: a run records the
-- database connections it adds (the pool and its probe for the first run in a process, a
-- connection per worker for each further one), and seats are counted in connections.
alter table jessie.sync_runs add column connections integer not null default 0;
