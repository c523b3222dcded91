-- Hardening II. When each incident opened, so the drain can bound how many open per hour: a flood of
-- distinct paths (one signed delivery can hold thousands of entries) must not become
-- thousands of incidents and alerts. Beyond the bound, a kind's further paths fold into
-- one incident of that kind (path '(more paths)').

alter table jessie.incidents add column opened_at timestamptz not null default now();
create index incidents_opened on jessie.incidents (opened_at desc);

-- Connecting Gmail runs the account's first sync inside the callback (seconds of server time
-- and thousands of Gmail units): a row per first sync a connect ran, kept apart from accounts
-- (a disconnect deletes the account, not these), so a reconnect of a connected account within
-- minutes, or a disconnect-and-connect loop, buys no more. Rows older than a day are deleted
-- as new ones come.
create table jessie.connect_syncs (
    email text not null,
    synced_at timestamptz not null default now()
);
create index connect_syncs_by_email on jessie.connect_syncs (email, synced_at desc);
alter table jessie.connect_syncs enable row level security;

do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on jessie.connect_syncs from %I', api_role);
        end if;
    end loop;
end
$$;
