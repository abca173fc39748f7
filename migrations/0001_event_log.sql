-- The append-only event log: the source of truth; every projection is rebuilt from it.
CREATE TABLE events (
  position        bigserial PRIMARY KEY,
  stream_id       text        NOT NULL,
  stream_version  integer     NOT NULL CHECK (stream_version >= 1),
  type            text        NOT NULL,
  schema_version  integer     NOT NULL DEFAULT 1,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  UNIQUE (stream_id, stream_version)
);

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Projection of DatasetRegistered.
CREATE TABLE datasets (
  dataset_id  text        PRIMARY KEY,
  tenant      text        NOT NULL,
  name        text        NOT NULL,
  format      text        NOT NULL,
  size_bytes  bigint      NOT NULL,
  sha256      text        NOT NULL,
  uri         text        NOT NULL,
  row_count   bigint      NOT NULL,
  profile     jsonb       NOT NULL,
  created_at  timestamptz NOT NULL,
  position    bigint      NOT NULL,
  UNIQUE (tenant, sha256, name)
);
CREATE INDEX datasets_tenant_position ON datasets (tenant, position DESC);
CREATE INDEX datasets_sha256 ON datasets (sha256);
