-- Messages Gmail would not give us for a non-transient reason (a batch part answered 400
-- failedPrecondition, which Gmail returns intermittently): the page token or history
-- checkpoint has moved past them, so they are kept here and fetched again on later runs
-- until they arrive or Gmail says they are gone. A resync does not mark them deleted.

create table jessie.message_retries (
    account_id bigint not null references jessie.accounts (id) on delete cascade,
    gmail_id text not null,
    reason text not null,
    attempts integer not null default 1,
    first_failed_at timestamptz not null default now(),
    last_failed_at timestamptz not null default now(),
    primary key (account_id, gmail_id)
);

alter table jessie.message_retries enable row level security;

do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on jessie.message_retries from %I', api_role);
        end if;
    end loop;
end
$$;
