-- +goose Up
CREATE TABLE orgs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    role       text NOT NULL CHECK (role IN ('admin', 'coordinator', 'base', 'buyer', 'gateway')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored as SHA-256 of the secret: the secret is 256 random bits, so a slow hash buys nothing,
-- and a fast one keeps authentication off the hot path. The prefix finds the row and is safe to show.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    prefix       text NOT NULL UNIQUE,
    hash         bytea NOT NULL,
    label        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE orgs;
