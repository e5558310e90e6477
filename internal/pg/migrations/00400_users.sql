-- +goose Up
-- Coordinator accounts for the web dashboard and their sign-in sessions. A person belongs to an organisation
-- (role coordinator or admin, checked by the application: the role lives on orgs) and a city.

CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id              bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    -- Stored lower-cased, so that sign-in is case-insensitive and "Demo" cannot shadow "demo".
    username            text NOT NULL UNIQUE CHECK (length(username) BETWEEN 2 AND 64 AND username = lower(username)),
    display_name        text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
    city                text NOT NULL CHECK (city IN ('guangzhou', 'longyan')),
    -- bcrypt, with its cost and salt inside the hash string.
    password_hash       text NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    disabled_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_org_idx ON users (org_id);

-- A session is found by the SHA-256 of its cookie token (256 random bits, so a fast hash is enough); the token
-- itself is never stored. It ends at expires_at (absolute) or after idle_seconds without use, whichever is first.
CREATE TABLE user_sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    -- The per-session CSRF token, sent in every state-changing form. Useless without the session cookie.
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    idle_seconds integer NOT NULL CHECK (idle_seconds > 0),
    user_agent   text NOT NULL DEFAULT '' CHECK (length(user_agent) <= 300)
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_expires_idx ON user_sessions (expires_at);

-- +goose Down
DROP TABLE user_sessions;
DROP TABLE users;
