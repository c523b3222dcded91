-- The mailbox a user expects: the account's labels (names, colours, counts), full-text search,
-- and keyset pages by date.
--
-- Gmail's labels.list gives names, types and colours but not counts (only labels.get does,
-- one call per label); the counts here are those of the stored mirror, recomputed by the sync
-- whenever it changed the account's mail, so a page view reads them without counting.

create table jessie.labels (
    account_id bigint not null references jessie.accounts (id) on delete cascade,
    label_id text not null,
    name text not null,
    type text not null check (type in ('system', 'user')),
    color_background text,
    color_text text,
    hidden boolean not null default false,
    messages_total integer not null default 0,
    messages_unread integer not null default 0,
    primary key (account_id, label_id)
);

alter table jessie.accounts
    add column mailbox_total integer,
    add column labels_synced_at timestamptz;

comment on column jessie.accounts.mailbox_total is 'messagesTotal from Gmail getProfile, read when a full sync starts';

-- Search: subject (A), sender (B), recipients (C), body (D), with the 'simple' configuration
-- (Gmail matches words, not stems). Addresses are split at @ and . (and <> do not make them
-- look like markup, which the parser would drop), so `from:alice`,
-- `from:example.com` and `from:alice@example.com` all find alice@example.com; queries split
-- their words the same way.
alter table jessie.messages add column search tsvector generated always as (
    setweight(to_tsvector('simple', translate(coalesce(subject, ''), '@.<>', '    ')), 'A')
    || setweight(to_tsvector('simple', translate(coalesce(sender, ''), '@.<>', '    ')), 'B')
    || setweight(to_tsvector('simple', translate(coalesce(recipients, ''), '@.<>', '    ')), 'C')
    || setweight(to_tsvector('simple', translate(left(coalesce(body_text, ''), 100000), '@.<>', '    ')), 'D')
) stored;

create index messages_search on jessie.messages using gin (search) where deleted_at is null;
create index messages_labels on jessie.messages using gin (label_ids) where deleted_at is null;
drop index jessie.messages_inbox;
-- Pages are keyed on (date, id), newest first; a message without a date sorts oldest.
create index messages_by_date
    on jessie.messages (account_id, coalesce(internal_date, '-infinity'::timestamptz) desc, gmail_id desc)
    where deleted_at is null;

alter table jessie.labels enable row level security;

do $$
declare
    api_role text;
begin
    foreach api_role in array array['anon', 'authenticated'] loop
        if exists (select 1 from pg_roles where rolname = api_role) then
            execute format('revoke all on jessie.labels from %I', api_role);
        end if;
    end loop;
end
$$;
