-- +goose Up
-- Alarms are listed newest start first (id breaking ties): a page of them comes from this index, not from
-- sorting every alarm (docs/performance.md).
CREATE INDEX alarms_started_idx ON alarms (started_at DESC, id DESC);

-- +goose Down
DROP INDEX alarms_started_idx;
