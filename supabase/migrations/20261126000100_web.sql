-- What the web app keeps: one-use OAuth states (replay protection) and alert episodes
-- (one alert per failure, not one per hour while it lasts).

create table jessie.oauth_states (
    state_hash text primary key,
    created_at timestamptz not null default now()
);

create table jessie.alert_state (
    key text primary key,
    active_since timestamptz not null default now(),
    alerted_at timestamptz
);

alter table jessie.oauth_states enable row level security;
alter table jessie.alert_state enable row level security;

do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on all tables in schema jessie from %I', api_role);
        end if;
    end loop;
end
$$;
