-- Jessie's schema. It lives in `jessie`, which Supabase's Data API does not expose
-- (only the schemas listed in its API settings are), and every table has row-level
-- security enabled with no policies, so even an accidental exposure reads nothing.

create schema if not exists jessie;

create table jessie.accounts (
    id bigint generated always as identity primary key,
    email text not null unique,
    status text not null default 'active' check (status in ('active', 'needs_reauth', 'disabled')),
    refresh_token_encrypted text not null,
    -- Gmail history ids are uint64: numeric(20) holds every one exactly.
    history_id numeric(20),
    sync_state text not null default 'new' check (sync_state in ('new', 'full', 'incremental')),
    full_sync_history_id numeric(20),
    full_sync_page_token text,
    full_sync_generation integer not null default 0,
    full_sync_reconcile boolean not null default false,
    lease_run_id bigint,
    lease_expires_at timestamptz,
    last_sync_started_at timestamptz,
    last_sync_finished_at timestamptz,
    last_sync_status text,
    last_sync_error text,
    consecutive_failures integer not null default 0,
    alerted_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index accounts_due on jessie.accounts (last_sync_finished_at nulls first, id) where status = 'active';

create table jessie.messages (
    account_id bigint not null references jessie.accounts (id) on delete cascade,
    gmail_id text not null,
    thread_id text not null,
    label_ids text[] not null default '{}',
    internal_date timestamptz,
    history_id numeric(20),
    size_estimate integer,
    subject text,
    sender text,
    recipients text,
    snippet text,
    body_text text,
    body_truncated boolean not null default false,
    attachments jsonb not null default '[]',
    parse_error text,
    -- Which full sync last saw this message: a resync marks the unseen ones deleted.
    seen_generation integer not null default 0,
    deleted_at timestamptz,
    synced_at timestamptz not null default now(),
    primary key (account_id, gmail_id)
);

create index messages_inbox on jessie.messages (account_id, internal_date desc) where deleted_at is null;

create table jessie.sync_runs (
    id bigint generated always as identity primary key,
    trigger text not null,
    status text not null default 'running' check (status in ('running', 'ok', 'partial', 'failed', 'abandoned')),
    started_at timestamptz not null default now(),
    deadline_at timestamptz not null,
    finished_at timestamptz,
    accounts_ok integer not null default 0,
    accounts_failed integer not null default 0,
    accounts_incomplete integer not null default 0,
    messages_added integer not null default 0,
    messages_updated integer not null default 0,
    messages_deleted integer not null default 0,
    quota_units integer not null default 0,
    http_requests integer not null default 0,
    retries integer not null default 0,
    duration_ms integer,
    error text
);

create index sync_runs_recent on jessie.sync_runs (started_at desc);

create table jessie.sync_run_accounts (
    run_id bigint not null references jessie.sync_runs (id) on delete cascade,
    account_id bigint not null references jessie.accounts (id) on delete cascade,
    status text not null check (status in ('ok', 'incomplete', 'failed', 'needs_reauth')),
    mode text not null,
    messages_added integer not null default 0,
    messages_updated integer not null default 0,
    messages_deleted integer not null default 0,
    quota_units integer not null default 0,
    requests integer not null default 0,
    retries integer not null default 0,
    duration_ms integer not null default 0,
    error text,
    finished_at timestamptz not null default now(),
    primary key (run_id, account_id)
);

alter table jessie.accounts enable row level security;
alter table jessie.messages enable row level security;
alter table jessie.sync_runs enable row level security;
alter table jessie.sync_run_accounts enable row level security;

-- Supabase's API roles get nothing here (on plain Postgres these roles do not exist).
do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on schema jessie from %I', api_role);
            execute format('revoke all on all tables in schema jessie from %I', api_role);
            execute format('alter default privileges in schema jessie revoke all on tables from %I', api_role);
        end if;
    end loop;
end
$$;
