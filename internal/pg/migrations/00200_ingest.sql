-- +goose Up
-- Cold-chain ingest: the registry of gateways, assets and sensors, the alarms the rules raise, the dead letter
-- of rejected readings, and the rule engine's persisted state. Ids are chosen by operators (LY-TRK-0001) and
-- become MQTT topic levels and InfluxDB tag values, hence the character rules.

CREATE TABLE gateways (
    id                  text PRIMARY KEY CHECK (id ~ '^[^[:space:][:cntrl:]/+#,="\\]{1,64}$'),
    name                text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    org_id              bigint REFERENCES orgs(id) ON DELETE SET NULL,
    -- SHA-256 of the MQTT password: the password is 192 random bits, so a slow hash buys nothing and a fast
    -- one keeps reconnect storms cheap.
    password_hash       bytea NOT NULL,
    sampling_interval_s integer NOT NULL DEFAULT 30 CHECK (sampling_interval_s BETWEEN 1 AND 3600),
    simulated           boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'unknown' CHECK (status IN ('online', 'offline', 'unknown')),
    status_at           timestamptz,
    last_seen_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE assets (
    id         text PRIMARY KEY CHECK (id ~ '^[^[:space:][:cntrl:]/+#,="\\]{1,64}$'),
    kind       text NOT NULL CHECK (kind IN ('truck', 'cold_store')),
    name       text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    city       text NOT NULL DEFAULT '' CHECK (length(city) <= 100),
    org_id     bigint REFERENCES orgs(id) ON DELETE SET NULL,
    band_min_c double precision CHECK (band_min_c BETWEEN -60 AND 60),
    band_max_c double precision CHECK (band_max_c BETWEEN -60 AND 60),
    -- A product profile (matching's products.name) whose band applies when the asset has none of its own.
    -- Not a foreign key: the profile may be registered after the asset.
    product    text CHECK (length(product) <= 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (band_min_c IS NULL OR band_max_c IS NULL OR band_min_c <= band_max_c)
);

CREATE TABLE sensors (
    id         text PRIMARY KEY CHECK (id ~ '^[^[:space:][:cntrl:]/+#,="\\]{1,64}$'),
    gateway_id text NOT NULL REFERENCES gateways(id) ON DELETE RESTRICT,
    asset_id   text NOT NULL REFERENCES assets(id) ON DELETE RESTRICT,
    name       text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sensors_gateway_idx ON sensors (gateway_id);
CREATE INDEX sensors_asset_idx ON sensors (asset_id);

-- An alarm is identified by its sensor, kind and the start of its condition, so that the rules, which may see
-- the same readings again after a restart, update it instead of raising it twice.
CREATE TABLE alarms (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    asset_id       text NOT NULL,
    sensor_id      text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('excursion', 'door_open', 'sensor_silent')),
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'closed', 'withdrawn')),
    started_at     timestamptz NOT NULL,
    raised_at      timestamptz NOT NULL,
    ended_at       timestamptz,
    peak_c         double precision,
    band_min_c     double precision,
    band_max_c     double precision,
    degree_minutes double precision,
    acked_by       text,
    acked_at       timestamptz,
    ack_comment    text CHECK (length(ack_comment) <= 2000),
    closed_at      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sensor_id, kind, started_at)
);
CREATE INDEX alarms_asset_idx ON alarms (asset_id, started_at DESC);
CREATE INDEX alarms_active_idx ON alarms (status, started_at DESC) WHERE status IN ('open', 'acknowledged');

CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL,
    gateway_id    text NOT NULL DEFAULT '',
    topic         text NOT NULL DEFAULT '',
    reason        text NOT NULL,
    field         text NOT NULL DEFAULT '',
    detail        text NOT NULL DEFAULT '',
    sensor_id     text NOT NULL DEFAULT '',
    -- The reading's position in its message; NULL when the whole message was rejected.
    reading_index integer,
    -- The rejected reading's JSON, or the start of a rejected message (bounded, made valid UTF-8).
    payload       text NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC, id DESC);
CREATE INDEX dead_letters_gateway_idx ON dead_letters (gateway_id, received_at DESC);

CREATE TABLE rule_states (
    sensor_id text PRIMARY KEY,
    state     bytea NOT NULL,
    saved_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE rule_states;
DROP TABLE dead_letters;
DROP TABLE alarms;
DROP TABLE sensors;
DROP TABLE assets;
DROP TABLE gateways;
