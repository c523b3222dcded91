-- Sessions live on the server, so sign-out and disconnect end them everywhere: the cookie
-- carries only a random id (signed), and this table holds its hash, its user, and when it
-- was made and last used (idle and absolute lifetimes). The OAuth round trip keeps its
-- one-use state in the signed flow cookie instead of a table anyone could fill.

create table jessie.sessions (
    id_hash text primary key,
    email text not null,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now()
);

create index sessions_by_email on jessie.sessions (email);

alter table jessie.sessions enable row level security;

drop table jessie.oauth_states;

do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on jessie.sessions from %I', api_role);
        end if;
    end loop;
end
$$;
