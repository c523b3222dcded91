-- Lists show conversations: a thread's members are found by (account, thread), newest first.
create index messages_by_thread
    on jessie.messages (account_id, thread_id, coalesce(internal_date, '-infinity'::timestamptz) desc, gmail_id desc)
    where deleted_at is null;
