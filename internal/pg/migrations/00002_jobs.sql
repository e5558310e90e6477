-- +goose Up
-- When each scheduled job last ran, so that a job every replica schedules runs once per period (pg.RunDue).
CREATE TABLE scheduled_jobs (
    name     text PRIMARY KEY,
    last_run timestamptz NOT NULL
);

-- +goose Down
DROP TABLE scheduled_jobs;
