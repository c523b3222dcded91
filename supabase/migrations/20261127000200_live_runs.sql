-- Runs prove they are alive: a heartbeat renews their short account leases, so the accounts
-- of a run that died are free again within seconds instead of after its whole budget.
-- Each batch that commits also adds to its account's row of the run, so a killed run's
-- record shows what it stored; and a run says how many due accounts another run held.

alter table jessie.sync_runs
    add column heartbeat_at timestamptz not null default now(),
    add column accounts_busy integer not null default 0;

alter table jessie.sync_run_accounts
    drop constraint sync_run_accounts_status_check,
    add constraint sync_run_accounts_status_check
        check (status in ('running', 'ok', 'incomplete', 'failed', 'needs_reauth', 'interrupted'));
