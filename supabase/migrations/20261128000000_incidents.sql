-- What Vercel's Log Drains report that the app could not report itself: a function killed
-- at maxDuration, a runtime that died mid-request, an error line of the cron path, a failed
-- run, a cron that did not run. One open incident per (kind, path); later occurrences add
-- to its count until it closes (a run succeeds, or it has been quiet for an hour).

create table jessie.incidents (
    id bigint generated always as identity primary key,
    kind text not null check (kind in ('timeout', 'crash', 'cron_error', 'run_failed', 'cron_missed')),
    path text not null default '',
    deployment_id text,
    request_id text,
    first_seen timestamptz not null,
    last_seen timestamptz not null,
    count integer not null default 1,
    sample text not null default '',
    closed_at timestamptz
);
create unique index incidents_one_open on jessie.incidents (kind, path) where closed_at is null;
create index incidents_recent on jessie.incidents (last_seen desc);

-- Observations already counted (log entry ids): Vercel redelivers a batch its endpoint did
-- not accept, and the same entry must not count twice.
create table jessie.incident_observations (
    id text primary key,
    seen_at timestamptz not null default now()
);

comment on column jessie.incidents.sample is 'one log line, tokens and mail content scrubbed';
