-- Every lease (and the sweeper) looks for leases that ran out: keep that lookup off a full scan.
CREATE INDEX computation_node_lease_expiry ON computation_node (lease_expires_at) WHERE status = 'leased';
