-- +goose Up
-- 菜篮子 matching: product profiles (shared with ingest's bands and trace's lots), lanes from Longyan's counties
-- to Guangzhou's markets, the bases' offers and the buyers' demands, matching runs with their allocations, and the
-- orders that allocations become when both sides accept. Money is in fen (1 CNY = 100 fen), mass in whole kg.

CREATE TABLE products (
    -- The product's key in every area (ingest's asset profiles, trace's lots): lower-case slug, e.g. choy-sum.
    name             text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name_zh          text NOT NULL DEFAULT '' CHECK (length(name_zh) <= 100),
    shelf_life_hours integer NOT NULL CHECK (shelf_life_hours BETWEEN 1 AND 87600),
    -- The cold-chain band ingest applies to an asset carrying the product; either end may be open (frozen: max only).
    temp_min_c       numeric(5, 2) CHECK (temp_min_c BETWEEN -60 AND 60),
    temp_max_c       numeric(5, 2) CHECK (temp_max_c BETWEEN -60 AND 60),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (temp_min_c IS NULL OR temp_max_c IS NULL OR temp_min_c <= temp_max_c)
);

CREATE TABLE lanes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin          text NOT NULL CHECK (origin ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    origin_name     text NOT NULL DEFAULT '' CHECK (length(origin_name) <= 100),
    destination     text NOT NULL CHECK (destination ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    destination_name text NOT NULL DEFAULT '' CHECK (length(destination_name) <= 100),
    cost_per_kg_fen bigint NOT NULL CHECK (cost_per_kg_fen BETWEEN 0 AND 100000),
    transit_hours   integer NOT NULL CHECK (transit_hours BETWEEN 0 AND 720),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (origin, destination)
);

CREATE TABLE offers (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id             bigint NOT NULL REFERENCES orgs(id) ON DELETE RESTRICT,
    product            text NOT NULL REFERENCES products(name) ON UPDATE CASCADE,
    grade              smallint NOT NULL CHECK (grade BETWEEN 1 AND 5),
    quantity_kg        bigint NOT NULL CHECK (quantity_kg BETWEEN 1 AND 100000000),
    min_price_fen      bigint NOT NULL CHECK (min_price_fen BETWEEN 0 AND 10000000),
    origin             text NOT NULL CHECK (origin ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    harvested_at       timestamptz NOT NULL,
    available_from     timestamptz NOT NULL,
    certifications     text[] NOT NULL DEFAULT '{}',
    -- Set by coordinators for bases the plan favours; bases cannot set it.
    priority_bonus_fen bigint NOT NULL DEFAULT 0 CHECK (priority_bonus_fen BETWEEN 0 AND 1000000),
    note               text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'withdrawn')),
    -- Bumped on every change, so that a run can tell what it matched from what is there now.
    version            integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    withdrawn_at       timestamptz,
    CHECK (available_from >= harvested_at)
);
CREATE INDEX offers_org_idx ON offers (org_id, id DESC);
CREATE INDEX offers_open_idx ON offers (product, id) WHERE status = 'open';

CREATE TABLE demands (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id                  bigint NOT NULL REFERENCES orgs(id) ON DELETE RESTRICT,
    product                 text NOT NULL REFERENCES products(name) ON UPDATE CASCADE,
    min_grade               smallint NOT NULL CHECK (min_grade BETWEEN 1 AND 5),
    quantity_kg             bigint NOT NULL CHECK (quantity_kg BETWEEN 1 AND 100000000),
    max_price_fen           bigint NOT NULL CHECK (max_price_fen BETWEEN 0 AND 10000000),
    destination             text NOT NULL CHECK (destination ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    deliver_by              timestamptz NOT NULL,
    required_certifications text[] NOT NULL DEFAULT '{}',
    note                    text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    status                  text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'withdrawn')),
    version                 integer NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    withdrawn_at            timestamptz
);
CREATE INDEX demands_org_idx ON demands (org_id, id DESC);
CREATE INDEX demands_open_idx ON demands (product, id) WHERE status = 'open';

CREATE TABLE matching_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_by      bigint REFERENCES orgs(id) ON DELETE SET NULL,
    started_by_name text NOT NULL DEFAULT '',
    price_rule      text NOT NULL CHECK (price_rule IN ('midpoint', 'offer_price', 'demand_price')),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    offers          integer NOT NULL,
    demands         integer NOT NULL,
    objective_fen   bigint NOT NULL,
    greedy_fen      bigint NOT NULL,
    matched_kg      bigint NOT NULL,
    solve_ms        double precision NOT NULL,
    -- Counts unmatched by reason, and every offer and demand left (partly) unmatched with its reasons.
    summary         jsonb NOT NULL,
    unmatched       jsonb NOT NULL
);

CREATE TABLE allocations (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             bigint NOT NULL REFERENCES matching_runs(id) ON DELETE CASCADE,
    offer_id           bigint NOT NULL REFERENCES offers(id) ON DELETE RESTRICT,
    demand_id          bigint NOT NULL REFERENCES demands(id) ON DELETE RESTRICT,
    quantity_kg        bigint NOT NULL CHECK (quantity_kg > 0),
    surplus_per_kg_fen bigint NOT NULL,
    lane_cost_fen      bigint NOT NULL,
    price_per_kg_fen   bigint NOT NULL,
    arrival            timestamptz NOT NULL,
    deliver_by         timestamptz NOT NULL,
    -- proposed: waiting for both sides; ordered: both accepted; declined: one side said no; withdrawn: the offer
    -- or demand was withdrawn first. Only proposed and ordered allocations hold kilograms.
    status             text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'ordered', 'declined', 'withdrawn')),
    base_decision      text CHECK (base_decision IN ('accepted', 'declined')),
    base_decided_at    timestamptz,
    buyer_decision     text CHECK (buyer_decision IN ('accepted', 'declined')),
    buyer_decided_at   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX allocations_run_idx ON allocations (run_id, id);
CREATE INDEX allocations_offer_idx ON allocations (offer_id) WHERE status IN ('proposed', 'ordered');
CREATE INDEX allocations_demand_idx ON allocations (demand_id) WHERE status IN ('proposed', 'ordered');

CREATE TABLE orders (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    allocation_id    bigint NOT NULL UNIQUE REFERENCES allocations(id) ON DELETE RESTRICT,
    offer_id         bigint NOT NULL REFERENCES offers(id) ON DELETE RESTRICT,
    demand_id        bigint NOT NULL REFERENCES demands(id) ON DELETE RESTRICT,
    base_org_id      bigint NOT NULL REFERENCES orgs(id) ON DELETE RESTRICT,
    buyer_org_id     bigint NOT NULL REFERENCES orgs(id) ON DELETE RESTRICT,
    product          text NOT NULL REFERENCES products(name) ON UPDATE CASCADE,
    quantity_kg      bigint NOT NULL CHECK (quantity_kg > 0),
    price_per_kg_fen bigint NOT NULL,
    origin           text NOT NULL,
    destination      text NOT NULL,
    deliver_from     timestamptz NOT NULL,
    deliver_by       timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'placed' CHECK (status IN ('placed', 'delivered')),
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_base_idx ON orders (base_org_id, id DESC);
CREATE INDEX orders_buyer_idx ON orders (buyer_org_id, id DESC);

-- +goose Down
DROP TABLE orders;
DROP TABLE allocations;
DROP TABLE matching_runs;
DROP TABLE demands;
DROP TABLE offers;
DROP TABLE lanes;
DROP TABLE products;
