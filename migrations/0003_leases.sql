-- Worker leases on computation nodes (projected from NodeLeased / NodeHeartbeat / NodeSucceeded /
-- NodeFailed / NodeRetryScheduled / NodeReady events).
ALTER TABLE computation_node
  ADD COLUMN lease_token      text,
  ADD COLUMN leased_by        text,
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN ready_at         timestamptz,
  ADD COLUMN result           jsonb,
  ADD COLUMN error            jsonb;
