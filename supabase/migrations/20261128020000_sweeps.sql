-- A sweep: everything one scheduled cron slot syncs, across the parallel function invocations
-- it starts. The slot is unique, so a cron delivered twice joins the sweep already under way
-- instead of starting a second one; each invocation's run points at its sweep.

create table jessie.sweeps (
    id bigint generated always as identity primary key,
    slot timestamptz not null unique,
    started_at timestamptz not null default now(),
    due_accounts integer not null default 0,
    invocations_planned integer not null default 1,
    invocations_started integer not null default 1  -- the cron's own invocation, then each worker started
);

alter table jessie.sync_runs add column sweep_id bigint references jessie.sweeps (id) on delete set null;
create index sync_runs_by_sweep on jessie.sync_runs (sweep_id) where sweep_id is not null;
-- Live runs are counted against the connection budget when one starts.
create index sync_runs_live on jessie.sync_runs (heartbeat_at) where status = 'running';

alter table jessie.sweeps enable row level security;

do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on jessie.sweeps from %I', api_role);
        end if;
    end loop;
end
$$;
