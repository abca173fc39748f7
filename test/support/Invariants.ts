// What any event log this service wrote must satisfy, checked from the log alone: per-stream versions
// 1..n with no gap or repeat; a node leased by at most one holder at a time; reports only from a
// holder; no lease once cancelling; at most one terminal event per job.
export interface LogRow {
  readonly stream_id: string
  readonly stream_version: number
  readonly type: string
  readonly data: any
}

export const checkLog = (rows: ReadonlyArray<LogRow>) => {
  const problems: Array<string> = []
  const types: Record<string, number> = {}
  const versions = new Map<string, number>()
  const leased = new Map<string, string>()
  const cancelling = new Set<string>()
  const terminal = new Map<string, string>()
  for (const e of rows) {
    types[e.type] = (types[e.type] ?? 0) + 1
    const expected = (versions.get(e.stream_id) ?? 0) + 1
    if (e.stream_version !== expected) problems.push(`${e.stream_id}: version ${e.stream_version} where ${expected} was next`)
    versions.set(e.stream_id, e.stream_version)
    const node = e.data?.node_id as string | undefined
    switch (e.type) {
      case "NodeLeased":
        if (leased.has(node!)) problems.push(`${node} leased to ${e.data.worker_id} while ${leased.get(node!)} held it`)
        if (cancelling.has(e.stream_id)) problems.push(`${node} leased after its job was cancelled`)
        leased.set(node!, e.data.worker_id)
        break
      case "NodeHeartbeat":
        if (!leased.has(node!)) problems.push(`${node}: heartbeat without a lease`)
        break
      case "NodeSucceeded":
      case "NodeFailed":
      case "NodeLeaseExpired":
        if (!leased.has(node!)) problems.push(`${node}: ${e.type} without a lease`)
        leased.delete(node!)
        break
      case "JobCancelRequested":
        cancelling.add(e.stream_id)
        break
      case "JobCancelled":
      case "JobSucceeded":
      case "JobFailed":
        if (terminal.has(e.stream_id)) problems.push(`${e.stream_id}: ${e.type} after ${terminal.get(e.stream_id)}`)
        terminal.set(e.stream_id, e.type)
        if (e.type === "JobCancelled") {
          for (const [n] of leased) if (n.startsWith(`${e.stream_id}.`)) problems.push(`${e.stream_id} cancelled while ${n} was leased`)
        }
        break
    }
  }
  return { problems, types, streams: versions.size }
}
