-- +goose Up
-- Market cycles (docs/market.md): trading rounds that coordinators open, offers and demands posted into them, the
-- run at a round's close, and buyers' standing demands that become demands in each round they fit.

CREATE TABLE rounds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    opens_at        timestamptz NOT NULL,
    closes_at       timestamptz NOT NULL,
    -- Empty lists take every product and every destination.
    products        text[] NOT NULL DEFAULT '{}',
    destinations    text[] NOT NULL DEFAULT '{}',
    deliver_from    timestamptz NOT NULL,
    deliver_by      timestamptz NOT NULL,
    -- Allocations of the round's run still proposed at this time lapse.
    answer_by       timestamptz NOT NULL,
    price_rule      text NOT NULL DEFAULT 'midpoint' CHECK (price_rule IN ('midpoint', 'offer_price', 'demand_price')),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    -- open: taking offers and demands until closes_at; closed: its run at the close is done (set in the run's
    -- transaction, so a round is closed exactly when its run committed); cancelled by a coordinator before that.
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'cancelled')),
    created_by      bigint REFERENCES orgs(id) ON DELETE SET NULL,
    created_by_name text NOT NULL DEFAULT '',
    closed_at       timestamptz,
    cancelled_at    timestamptz,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (closes_at > opens_at),
    CHECK (deliver_by > deliver_from),
    CHECK (answer_by > closes_at)
);
-- The scheduler's question every tick: which open rounds are due.
CREATE INDEX rounds_due_idx ON rounds (closes_at) WHERE status = 'open';

ALTER TABLE matching_runs ADD COLUMN round_id bigint REFERENCES rounds(id) ON DELETE RESTRICT,
    -- Proposed allocations of the run lapse at this time (a round's answer deadline); NULL: they wait.
    ADD COLUMN answer_by timestamptz;
CREATE INDEX matching_runs_round_idx ON matching_runs (round_id, id) WHERE round_id IS NOT NULL;
CREATE INDEX matching_runs_answer_idx ON matching_runs (answer_by) WHERE answer_by IS NOT NULL;
-- The lapse sweep's probe: a run's allocations still waiting for answers, whatever the number answered long ago.
CREATE INDEX allocations_proposed_idx ON allocations (run_id) WHERE status = 'proposed';

ALTER TABLE offers ADD COLUMN round_id bigint REFERENCES rounds(id) ON DELETE RESTRICT;
CREATE INDEX offers_round_idx ON offers (round_id, id) WHERE round_id IS NOT NULL;

CREATE TABLE standing_demands (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id                  bigint NOT NULL REFERENCES orgs(id) ON DELETE RESTRICT,
    product                 text NOT NULL REFERENCES products(name) ON UPDATE CASCADE,
    min_grade               smallint NOT NULL CHECK (min_grade BETWEEN 1 AND 5),
    quantity_kg             bigint NOT NULL CHECK (quantity_kg BETWEEN 1 AND 100000000),
    max_price_fen           bigint NOT NULL CHECK (max_price_fen BETWEEN 0 AND 10000000),
    destination             text NOT NULL CHECK (destination ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    -- ISO weekdays (1 Monday … 7 Sunday, in China Standard Time) the buyer takes deliveries on; empty: any day.
    weekdays                smallint[] NOT NULL DEFAULT '{}' CHECK (weekdays <@ '{1,2,3,4,5,6,7}'),
    valid_from              date,
    valid_until             date,
    required_certifications text[] NOT NULL DEFAULT '{}',
    note                    text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    paused                  boolean NOT NULL DEFAULT false,
    paused_at               timestamptz,
    version                 integer NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from)
);
CREATE INDEX standing_demands_org_idx ON standing_demands (org_id, id DESC);
CREATE INDEX standing_demands_active_idx ON standing_demands (product) WHERE NOT paused;

ALTER TABLE demands ADD COLUMN round_id bigint REFERENCES rounds(id) ON DELETE RESTRICT,
    ADD COLUMN standing_demand_id bigint REFERENCES standing_demands(id) ON DELETE SET NULL;
CREATE INDEX demands_round_idx ON demands (round_id, id) WHERE round_id IS NOT NULL;
-- One demand per standing demand per round, whoever generates it and however often.
CREATE UNIQUE INDEX demands_standing_round_idx ON demands (standing_demand_id, round_id) WHERE standing_demand_id IS NOT NULL;

-- lapsed: still proposed when its run's answer deadline passed; like declined, it returns its kilograms.
ALTER TABLE allocations DROP CONSTRAINT allocations_status_check,
    ADD CONSTRAINT allocations_status_check CHECK (status IN ('proposed', 'ordered', 'declined', 'withdrawn', 'lapsed'));

-- +goose Down
DROP INDEX allocations_proposed_idx;
UPDATE allocations SET status = 'declined' WHERE status = 'lapsed';
ALTER TABLE allocations DROP CONSTRAINT allocations_status_check,
    ADD CONSTRAINT allocations_status_check CHECK (status IN ('proposed', 'ordered', 'declined', 'withdrawn'));
ALTER TABLE demands DROP COLUMN standing_demand_id, DROP COLUMN round_id;
DROP TABLE standing_demands;
ALTER TABLE offers DROP COLUMN round_id;
ALTER TABLE matching_runs DROP COLUMN answer_by, DROP COLUMN round_id;
DROP TABLE rounds;
