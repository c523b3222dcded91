-- When each incident opened, so the drain can bound how many open per hour: a flood of
-- distinct paths (one signed delivery can hold thousands of entries) must not become
-- thousands of incidents and alerts. Beyond the bound, a kind's further paths fold into
-- one incident of that kind (path '(more paths)').

alter table jessie.incidents add column opened_at timestamptz not null default now();
create index incidents_opened on jessie.incidents (opened_at desc);
