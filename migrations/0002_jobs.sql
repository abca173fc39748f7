-- Projections of the job streams: the jobs and their computation nodes, and the idempotency keys
-- of submissions (written in the same transaction as the JobSubmitted event).
CREATE TABLE jobs (
  job_id          text        PRIMARY KEY,
  tenant          text        NOT NULL,
  dataset_id      text        NOT NULL,
  status          text        NOT NULL,
  request         jsonb       NOT NULL,
  trainer_uri     text        NOT NULL,
  trainer_sha256  text        NOT NULL,
  graph_summary   jsonb       NOT NULL,
  result          jsonb,
  idempotency_key text,
  version         integer     NOT NULL,
  position        bigint      NOT NULL,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);
CREATE INDEX jobs_tenant_position ON jobs (tenant, position DESC);
CREATE INDEX jobs_tenant_dataset ON jobs (tenant, dataset_id, position DESC);

CREATE TABLE computation_node (
  node_id     text        PRIMARY KEY,
  job_id      text        NOT NULL,
  ordinal     integer     NOT NULL,
  key         text        NOT NULL,
  kind        text        NOT NULL,
  requires    text        NOT NULL,
  params      jsonb       NOT NULL,
  deps        text[]      NOT NULL,
  status      text        NOT NULL,
  attempts    integer     NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL
);
CREATE INDEX computation_node_job ON computation_node (job_id, ordinal);
CREATE INDEX computation_node_ready ON computation_node (requires) WHERE status = 'ready';

CREATE TABLE idempotency_keys (
  tenant        text        NOT NULL,
  key           text        NOT NULL,
  request_hash  text        NOT NULL,
  job_id        text        NOT NULL,
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (tenant, key)
);
