-- +goose Up
-- Recall and records (DESIGN.md "Recall and records"): the product temperature measured at a handover, the
-- 承诺达标合格证 details and the shelf life on the lot (copied when it is registered, like the band, so that the
-- record and its retention do not change when the product profile does), the EPCIS eventID of captured events
-- (capture is idempotent by it), and recalls with the lots they found and who did what.

ALTER TABLE lot_events
    ADD COLUMN handover_temp_c double precision CHECK (handover_temp_c BETWEEN -60 AND 60),
    ADD COLUMN measured_by     text NOT NULL DEFAULT '' CHECK (length(measured_by) <= 400),
    ADD COLUMN epcis_event_id  text UNIQUE CHECK (length(epcis_event_id) <= 400),
    ADD CHECK (handover_temp_c IS NULL OR kind IN ('load', 'unload', 'receive'));

ALTER TABLE lots
    ADD COLUMN shelf_life_hours       integer CHECK (shelf_life_hours > 0),
    ADD COLUMN certificate_commitment text NOT NULL DEFAULT '' CHECK (length(certificate_commitment) <= 2000),
    ADD COLUMN certificate_basis      text NOT NULL DEFAULT ''
        CHECK (certificate_basis IN ('', 'self_test', 'inspection_report', 'internal_control', 'self_pledge')),
    ADD COLUMN certificate_issuer     text NOT NULL DEFAULT '' CHECK (length(certificate_issuer) <= 800),
    ADD COLUMN certificate_date       date;

-- Recalls look for the legs of one asset that overlap a window: from_at < $to AND (to_at IS NULL OR to_at > $from).
-- lot_legs_asset_idx (asset_id, from_at) answers it: an asset has a few hundred legs a year.

CREATE TABLE recalls (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- What started it: a lot ('lot'), an asset and a window ('asset'), or an excursion alarm ('alarm').
    source       text NOT NULL CHECK (source IN ('lot', 'asset', 'alarm')),
    lot_code     text NOT NULL DEFAULT '',
    asset_id     text NOT NULL DEFAULT '',
    alarm_id     bigint,
    from_at      timestamptz,
    to_at        timestamptz,
    reason       text NOT NULL DEFAULT '' CHECK (length(reason) <= 4000),
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'notified', 'closed')),
    org_id       bigint REFERENCES orgs(id) ON DELETE SET NULL, -- the organisation that started it
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz
);
CREATE INDEX recalls_org_idx ON recalls (org_id, id DESC);

-- The lots a recall found, as they were when it was made: a lot purged later leaves its line in the recall.
CREATE TABLE recall_lots (
    recall_id        bigint NOT NULL REFERENCES recalls(id) ON DELETE CASCADE,
    lot_id           bigint NOT NULL, -- not a foreign key: see above
    doc              jsonb NOT NULL,
    PRIMARY KEY (recall_id, lot_id)
);
CREATE INDEX recall_lots_lot_idx ON recall_lots (lot_id);

-- Who was told, how, and whom to call where no channel reached them.
CREATE TABLE recall_holders (
    recall_id  bigint NOT NULL REFERENCES recalls(id) ON DELETE CASCADE,
    org_id     bigint NOT NULL,
    doc        jsonb NOT NULL,
    PRIMARY KEY (recall_id, org_id)
);

-- The audit of a recall: every action, by whom, when.
CREATE TABLE recall_actions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recall_id  bigint NOT NULL REFERENCES recalls(id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    note       text NOT NULL DEFAULT '' CHECK (length(note) <= 4000)
);
CREATE INDEX recall_actions_recall_idx ON recall_actions (recall_id, id);

-- +goose Down
DROP TABLE recall_actions;
DROP TABLE recall_holders;
DROP TABLE recall_lots;
DROP TABLE recalls;
ALTER TABLE lots DROP COLUMN shelf_life_hours, DROP COLUMN certificate_commitment, DROP COLUMN certificate_basis,
    DROP COLUMN certificate_issuer, DROP COLUMN certificate_date;
ALTER TABLE lot_events DROP COLUMN handover_temp_c, DROP COLUMN measured_by, DROP COLUMN epcis_event_id;
