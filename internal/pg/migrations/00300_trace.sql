-- +goose Up
-- Traceability: harvest lots of the bases, their custody events, the legs derived from the events (kept so that
-- ingest can ask "what is in this truck now" without replaying events), and a cache of the readings summaries
-- of legs, so that a 30-day journey's page does not aggregate InfluxDB afresh on every view.

CREATE TABLE lots (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The public key of the lot (QR code); never derived from the id.
    code           text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Z]{8,32}$'),
    org_id         bigint NOT NULL REFERENCES orgs(id) ON DELETE RESTRICT,
    -- matching's products.name. Not a foreign key: matching's migration may land after this one; the product is
    -- checked when the lot is registered and its name and band copied here.
    product        text NOT NULL CHECK (length(product) BETWEEN 1 AND 100),
    product_zh     text NOT NULL DEFAULT '',
    variety        text NOT NULL DEFAULT '' CHECK (length(variety) <= 100),
    grade          smallint NOT NULL CHECK (grade BETWEEN 1 AND 5),
    quantity_kg    bigint NOT NULL CHECK (quantity_kg BETWEEN 1 AND 10000000),
    base_name      text NOT NULL CHECK (length(base_name) BETWEEN 1 AND 200),
    county         text NOT NULL CHECK (length(county) BETWEEN 1 AND 100),
    harvested_at   timestamptz NOT NULL,
    certifications text[] NOT NULL DEFAULT '{}',
    certificate_no text NOT NULL DEFAULT '' CHECK (length(certificate_no) <= 64),
    gtin           text CHECK (gtin ~ '^[0-9]{14}$'),
    -- matching's orders(id), checked through matching when set; not a foreign key for the same reason.
    order_id       bigint,
    buyer_org_id   bigint REFERENCES orgs(id) ON DELETE SET NULL,
    band_min_c     double precision,
    band_max_c     double precision,
    delivered_at   timestamptz,
    -- The verdict of the last assessment of a delivered lot, for the plan's KPI.
    verdict        text,
    compliant      boolean,
    assessed_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lots_org_idx ON lots (org_id, id DESC);
CREATE INDEX lots_buyer_idx ON lots (buyer_org_id, id DESC) WHERE buyer_org_id IS NOT NULL;
CREATE INDEX lots_order_idx ON lots (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX lots_delivered_idx ON lots (delivered_at) WHERE delivered_at IS NOT NULL;

CREATE TABLE lot_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lot_id      bigint NOT NULL REFERENCES lots(id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('harvest', 'load', 'unload', 'receive')),
    at          timestamptz NOT NULL,
    asset_id    text CHECK (length(asset_id) <= 64),
    asset_kind  text CHECK (asset_kind IN ('truck', 'cold_store')),
    asset_name  text NOT NULL DEFAULT '',
    asset_city  text NOT NULL DEFAULT '',
    location    text NOT NULL DEFAULT '' CHECK (length(location) <= 800),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    recorded_by bigint REFERENCES orgs(id) ON DELETE SET NULL,
    recorder    text NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind IN ('load', 'unload')) = (asset_id IS NOT NULL))
);
CREATE INDEX lot_events_lot_idx ON lot_events (lot_id, at, id);

CREATE TABLE lot_legs (
    lot_id   bigint NOT NULL REFERENCES lots(id) ON DELETE CASCADE,
    seq      integer NOT NULL,
    asset_id text NOT NULL,
    from_at  timestamptz NOT NULL,
    to_at    timestamptz, -- NULL while the lot is in the asset
    PRIMARY KEY (lot_id, seq)
);
CREATE INDEX lot_legs_asset_idx ON lot_legs (asset_id, from_at);

-- Readings summaries of an asset from from_at up to to_at for one band: windows and out-of-band readings in a
-- compact binary form, with the count and sum of the readings they came from, to notice late readings.
CREATE TABLE leg_readings_cache (
    key         text PRIMARY KEY,
    asset_id    text NOT NULL,
    from_at     timestamptz NOT NULL,
    to_at       timestamptz NOT NULL,
    readings    bigint NOT NULL,
    temp_sum    double precision NOT NULL,
    windows     bytea NOT NULL,
    outside     bytea NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE leg_readings_cache;
DROP TABLE lot_legs;
DROP TABLE lot_events;
DROP TABLE lots;
