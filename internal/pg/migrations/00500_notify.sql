-- +goose Up
-- The duty officers' console and notifications. A logistics company that runs reefer trucks and cold stores is
-- an organisation of its own role, carrier; it may do nothing the other roles' routes allow (each route names its
-- roles), only what the console and the notification routes give it over its own assets.
ALTER TABLE orgs DROP CONSTRAINT orgs_role_check;
ALTER TABLE orgs ADD CONSTRAINT orgs_role_check CHECK (role IN ('admin', 'coordinator', 'base', 'buyer', 'gateway', 'carrier'));

-- Where an organisation's people are told of alarms. The secret (a webhook's HMAC key, a DingTalk robot's
-- signing secret) and the URL (a group robot's URL holds its access key) are never shown back.
CREATE TABLE notification_channels (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('webhook', 'wecom', 'dingtalk', 'email')),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    url             text NOT NULL DEFAULT '' CHECK (length(url) <= 2000),
    secret          text NOT NULL DEFAULT '' CHECK (length(secret) <= 500),
    recipients      text[] NOT NULL DEFAULT '{}',
    -- Consecutive failed attempts and since when: a channel that keeps failing is shown on /ops.
    failures        integer NOT NULL DEFAULT 0,
    failing_since   timestamptz,
    last_error      text NOT NULL DEFAULT '',
    last_success_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

-- Which alarms a channel hears of (empty lists: all kinds, all the organisation's assets), and whom to tell
-- next when an alarm is still unacknowledged escalate_after_s after it was raised.
CREATE TABLE notification_rules (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id           bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name             text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    channel_id       bigint NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
    alarm_kinds      text[] NOT NULL DEFAULT '{}',
    asset_ids        text[] NOT NULL DEFAULT '{}',
    escalate_after_s integer CHECK (escalate_after_s BETWEEN 1 AND 604800),
    then_rule_id     bigint REFERENCES notification_rules(id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_rules_channel_idx ON notification_rules (channel_id);

-- How far the planner has read ingest's alarm_events. Ids there are handed out and committed in order (ingest
-- takes a transaction lock before writing them), so everything up to the cursor has been planned.
CREATE TABLE notification_cursor (
    name          text PRIMARY KEY,
    last_event_id bigint NOT NULL
);
INSERT INTO notification_cursor (name, last_event_id) VALUES ('alarm_events', 0);

-- The outbox: one row per message to send to one channel. dedup_key makes each alarm change (or escalation)
-- reach a channel at most once, however many rules or processes planned it.
CREATE TABLE notification_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key       text NOT NULL UNIQUE,
    channel_id      bigint NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
    rule_id         bigint REFERENCES notification_rules(id) ON DELETE SET NULL,
    alarm_id        bigint NOT NULL,
    event_id        bigint,
    change          text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- A worker that took the row holds it until then; after, another may take it (the first one died).
    lease_until     timestamptz,
    last_error      text NOT NULL DEFAULT '',
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_alarm_idx ON notification_deliveries (alarm_id, id);
CREATE INDEX notification_deliveries_channel_idx ON notification_deliveries (channel_id, id DESC);

-- Every attempt of a delivery: the delivery log.
CREATE TABLE notification_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES notification_deliveries(id) ON DELETE CASCADE,
    n           integer NOT NULL,
    at          timestamptz NOT NULL,
    ok          boolean NOT NULL,
    status_code integer,
    error       text NOT NULL DEFAULT '',
    duration_ms integer NOT NULL
);
CREATE INDEX notification_attempts_delivery_idx ON notification_attempts (delivery_id, id);

-- Escalations waiting for their time: when the alarm is still unacknowledged at due_at, then_rule's channel is
-- told, and its own escalation (if any) starts.
CREATE TABLE notification_escalations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alarm_id        bigint NOT NULL,
    rule_id         bigint NOT NULL REFERENCES notification_rules(id) ON DELETE CASCADE,
    origin_event_id bigint NOT NULL,
    depth           integer NOT NULL,
    due_at          timestamptz NOT NULL,
    done_at         timestamptz,
    outcome         text,
    UNIQUE (alarm_id, rule_id, origin_event_id)
);
CREATE INDEX notification_escalations_due_idx ON notification_escalations (due_at) WHERE done_at IS NULL;

-- +goose Down
DROP TABLE notification_escalations;
DROP TABLE notification_attempts;
DROP TABLE notification_deliveries;
DROP TABLE notification_cursor;
DROP TABLE notification_rules;
DROP TABLE notification_channels;
ALTER TABLE orgs DROP CONSTRAINT orgs_role_check;
ALTER TABLE orgs ADD CONSTRAINT orgs_role_check CHECK (role IN ('admin', 'coordinator', 'base', 'buyer', 'gateway'));
