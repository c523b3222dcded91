-- Both request counters in both run tables, named for what they count: `requests` are
-- Gmail API calls (each part of a batch counts, as Gmail's quota does) and
-- `http_requests` the HTTP requests that carried them. A run account's mode is checked
-- like its status.

alter table jessie.sync_runs add column requests integer not null default 0;
alter table jessie.sync_run_accounts
    add column http_requests integer not null default 0,
    add constraint sync_run_accounts_mode_check check (mode in ('full', 'resync', 'incremental'));

comment on column jessie.sync_runs.requests is 'Gmail API calls; each batch part counts once';
comment on column jessie.sync_runs.http_requests is 'HTTP requests to Gmail; a batch counts once';
comment on column jessie.sync_run_accounts.requests is 'Gmail API calls; each batch part counts once';
comment on column jessie.sync_run_accounts.http_requests is 'HTTP requests to Gmail; a batch counts once';
