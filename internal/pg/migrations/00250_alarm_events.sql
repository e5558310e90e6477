-- +goose Up
-- What ingest records for the people who act on alarms: every change of an alarm (raised, ended,
-- acknowledged, withdrawn, reopened), written in the transaction of the change itself, so that a change is in the
-- log exactly when it is stored; and each sensor's latest durable reading, upserted in batches after ingest's
-- writes, so that the duty officers' console reads a whole fleet's latest values in one query.

CREATE TABLE alarm_events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id bigint NOT NULL REFERENCES alarms(id) ON DELETE CASCADE,
    asset_id text NOT NULL,
    -- The organisation the asset belonged to at the change (NULL: none), for whose notification rules apply.
    org_id   bigint,
    change   text NOT NULL CHECK (change IN ('raised', 'ended', 'acknowledged', 'withdrawn', 'reopened')),
    at       timestamptz NOT NULL,
    -- The alarm object (as the API shows it and MQTT publishes it) right after the change.
    alarm    jsonb NOT NULL
);
CREATE INDEX alarm_events_alarm_idx ON alarm_events (alarm_id, id);

CREATE TABLE sensor_latest (
    sensor_id    text PRIMARY KEY,
    ts           timestamptz NOT NULL,
    temp_c       double precision NOT NULL,
    humidity_pct double precision,
    door_open    boolean,
    battery_pct  double precision,
    lat          double precision,
    lon          double precision,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE sensor_latest;
DROP TABLE alarm_events;
