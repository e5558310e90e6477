-- +goose Up
-- Plan tracking. plan_items is the plan's structure, refreshed from the data shipped in the binary by
-- `suilong migrate` / `suilong plan load`; everything coordinators record hangs off its codes in other tables,
-- so a reload never touches their work. Items that leave the shipped plan are retired, not deleted, so that
-- their history stays.

CREATE TABLE plan_items (
    code       text PRIMARY KEY CHECK (code ~ '^[WDTG][1-9][0-9]*(\.[1-9][0-9]*)?$'),
    kind       text NOT NULL CHECK (kind IN ('goal', 'domain', 'task', 'measure', 'safeguard', 'safeguard_item')),
    parent     text REFERENCES plan_items(code) DEFERRABLE INITIALLY DEFERRED,
    position   integer NOT NULL,
    number     text NOT NULL DEFAULT '',
    title      text NOT NULL DEFAULT '',
    title_en   text NOT NULL DEFAULT '',
    body       text NOT NULL DEFAULT '',
    loaded_at  timestamptz NOT NULL,
    retired_at timestamptz
);

-- One row per item that someone has edited; an item without a row is not started, with nothing set.
CREATE TABLE plan_tracking (
    code           text PRIMARY KEY REFERENCES plan_items(code),
    lead_guangzhou text NOT NULL DEFAULT '' CHECK (char_length(lead_guangzhou) <= 200),
    lead_longyan   text NOT NULL DEFAULT '' CHECK (char_length(lead_longyan) <= 200),
    status         text NOT NULL DEFAULT 'not_started' CHECK (status IN ('not_started', 'on_track', 'at_risk', 'delayed', 'done')),
    progress       smallint CHECK (progress BETWEEN 0 AND 100),
    target_date    date,
    updated_at     timestamptz NOT NULL,
    updated_by     text NOT NULL
);
CREATE INDEX plan_tracking_target_idx ON plan_tracking (target_date) WHERE target_date IS NOT NULL AND status <> 'done';

-- 年度工作计划: what is planned for an item in a year of the plan, and whether it was done.
CREATE TABLE plan_annual (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL REFERENCES plan_items(code),
    year       smallint NOT NULL CHECK (year BETWEEN 2023 AND 2027),
    planned    text NOT NULL CHECK (char_length(planned) BETWEEN 1 AND 2000),
    done       boolean NOT NULL DEFAULT false,
    note       text NOT NULL DEFAULT '' CHECK (char_length(note) <= 2000),
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);
CREATE INDEX plan_annual_code_idx ON plan_annual (code, year, id);
CREATE INDEX plan_annual_year_idx ON plan_annual (year);

-- Dated progress reports with evidence links (http/https URLs, checked by the application).
CREATE TABLE plan_updates (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL REFERENCES plan_items(code),
    on_date    date NOT NULL,
    note       text NOT NULL CHECK (char_length(note) BETWEEN 1 AND 4000),
    links      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(links) <= 10),
    author     text NOT NULL,
    user_id    bigint REFERENCES users(id) ON DELETE SET NULL,
    org_id     bigint REFERENCES orgs(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX plan_updates_code_idx ON plan_updates (code, on_date DESC, id DESC);
CREATE INDEX plan_updates_recent_idx ON plan_updates (created_at DESC, id DESC);
CREATE INDEX plan_updates_date_idx ON plan_updates (on_date);

-- Every change, field by field: who, when, old → new. Written in the same transaction as the change.
CREATE TABLE plan_audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code      text NOT NULL REFERENCES plan_items(code),
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    user_id   bigint REFERENCES users(id) ON DELETE SET NULL,
    org_id    bigint REFERENCES orgs(id) ON DELETE SET NULL,
    field     text NOT NULL,
    old_value text NOT NULL DEFAULT '',
    new_value text NOT NULL DEFAULT ''
);
CREATE INDEX plan_audit_code_idx ON plan_audit (code, id DESC);

-- +goose Down
DROP TABLE plan_audit;
DROP TABLE plan_updates;
DROP TABLE plan_annual;
DROP TABLE plan_tracking;
DROP TABLE plan_items;
