-- Lists show conversations: a thread's members are found by (account, thread), newest first.
create index messages_by_thread
    on jessie.messages (account_id, thread_id, coalesce(internal_date, '-infinity'::timestamptz) desc, gmail_id desc)
    where deleted_at is null;

-- HTML mail as it was sent, sanitized at sync time (app/html_mail.py); null for text-only mail
-- and for mail synced before this column existed (its text view stands alone).
alter table jessie.messages add column body_html text;
