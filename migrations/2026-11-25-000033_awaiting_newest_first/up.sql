-- The approvals inbox of an admin lists what awaits approval anywhere,
-- newest first. No index held only those rows in that order, so the plan
-- walked the index of every active deployment (awaiting, queued and
-- running) and kept the few awaiting: with 65,751 queued after the
-- bench's writes and 3 awaiting, 38.9 ms of the database per request and
-- 50 req/s. In this index the walk reads only what awaits: 0.15 ms, and
-- 2,966-3,398 req/s on the same data (bench/README.md, "The inbox behind
-- a long queue").
CREATE INDEX deployments_awaiting_created_idx
    ON deployments (created_at DESC, id DESC) WHERE status = 'awaiting_approval';
