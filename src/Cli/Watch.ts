// `trainer jobs watch`: a job's progress rebuilt from its event stream alone (JobSubmitted carries the
// graph), drawn as one bar per node kind, with failures as they happen, an ETA, and — when nothing is
// being leased — which capabilities the ready nodes are waiting for.
import type { StoredEvent } from "../Domain/Events.ts"

const KIND_ORDER = ["prepare", "synth", "teacher_predict", "fit", "select", "refit", "ensemble", "sweep_point", "pareto", "finalize"]
const DONE = new Set(["succeeded", "failed", "skipped", "cancelled"])

interface NodeState {
  readonly kind: string
  readonly requires: string
  status: string
  /** A retry's backoff: not leasable before this time (ms). */
  readyAt?: number
}

export interface WatchState {
  readonly nodes: Map<string, NodeState>
  end: { readonly status: "succeeded" | "failed" | "cancelled"; readonly reason?: string } | undefined
  lastLeaseAt: number | undefined
  readonly startedAt: number
  doneAtStart: number | undefined
}

export const initialState = (now: number): WatchState => ({ nodes: new Map(), end: undefined, lastLeaseAt: undefined, startedAt: now, doneAtStart: undefined })

const keyOf = (jobId: string, nodeId: string) => (nodeId.startsWith(`${jobId}.`) ? nodeId.slice(jobId.length + 1) : nodeId)

/** Applies one event; returns a line worth printing at once (a failure, a drop), if any. */
export const apply = (state: WatchState, event: StoredEvent, now: number): string | undefined => {
  const data = event.data as any
  const jobId = event.stream_id
  const set = (nodeId: string, status: string) => {
    const n = state.nodes.get(keyOf(jobId, nodeId))
    if (n) n.status = status
  }
  switch (event.type) {
    case "JobSubmitted":
      for (const n of data.graph.nodes as Array<{ key: string; kind: string; requires: string; deps: Array<string> }>) {
        state.nodes.set(n.key, { kind: n.kind, requires: n.requires, status: n.deps.length === 0 ? "ready" : "pending" })
      }
      return undefined
    case "NodeLeased":
      state.lastLeaseAt = now
      set(data.node_id, "leased")
      return undefined
    case "NodeSucceeded":
      set(data.node_id, "succeeded")
      return undefined
    case "NodeRetryScheduled": {
      const n = state.nodes.get(keyOf(jobId, data.node_id))
      if (n) {
        n.status = "ready"
        n.readyAt = Date.parse(data.ready_at)
      }
      return `↻ ${keyOf(jobId, data.node_id)}: retry scheduled for ${data.ready_at}`
    }
    case "NodeFailed":
      set(data.node_id, data.final ? "failed" : "pending")
      return `✗ ${keyOf(jobId, data.node_id)} failed (attempt ${data.attempt}${data.final ? ", final" : ", will retry"}): ${data.error?.message ?? ""}`
    case "NodeLeaseExpired":
      set(data.node_id, "ready")
      return `… ${keyOf(jobId, data.node_id)}: lease of ${data.worker_id ?? "a worker"} expired; back to ready`
    case "NodeReady":
      for (const id of data.node_ids) set(id, "ready")
      return undefined
    case "NodeSkipped":
      for (const id of data.node_ids) set(id, "skipped")
      return `– skipped ${data.node_ids.length} node(s): ${data.reason}`
    case "JobCancelRequested":
      return [...state.nodes.values()].some((n) => n.status === "leased")
        ? "cancel requested: no new leases; waiting for running nodes to stop"
        : "cancel requested"
    case "JobCancelled":
      for (const id of data.node_ids) set(id, "cancelled")
      state.end = { status: "cancelled" }
      return undefined
    case "JobSucceeded":
      state.end = { status: "succeeded" }
      return undefined
    case "JobFailed":
      for (const id of data.node_ids ?? []) set(id, "skipped")
      state.end = { status: "failed", reason: data.reason }
      return undefined
    default:
      return undefined
  }
}

const bar = (done: number, total: number, width = 24) => {
  const filled = total === 0 ? width : Math.round((done / total) * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`
}

const seconds = (ms: number) => (ms < 60_000 ? `${Math.round(ms / 1000)}s` : `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s`)

/** Per kind: done (succeeded, failed for good, skipped, cancelled) / total. */
export const progress = (state: WatchState) => {
  const byKind = new Map<string, { done: number; total: number; failed: number; skipped: number; cancelled: number }>()
  for (const n of state.nodes.values()) {
    const k = byKind.get(n.kind) ?? { done: 0, total: 0, failed: 0, skipped: 0, cancelled: 0 }
    k.total++
    if (DONE.has(n.status)) k.done++
    if (n.status === "failed") k.failed++
    if (n.status === "skipped") k.skipped++
    if (n.status === "cancelled") k.cancelled++
    byKind.set(n.kind, k)
  }
  return [...byKind].sort(([a], [b]) => KIND_ORDER.indexOf(a) - KIND_ORDER.indexOf(b))
}

/** What the ready nodes need, when no worker is taking them. */
export const waiting = (state: WatchState, now: number, patienceMs: number) => {
  // Nodes waiting out a retry's backoff are not waiting for a worker.
  const ready = [...state.nodes.values()].filter((n) => n.status === "ready" && (n.readyAt === undefined || n.readyAt <= now))
  const leased = [...state.nodes.values()].some((n) => n.status === "leased")
  if (ready.length === 0 || leased || state.end) return undefined
  if (state.lastLeaseAt !== undefined && now - state.lastLeaseAt < patienceMs) return undefined
  if (state.lastLeaseAt === undefined && now - state.startedAt < patienceMs) return undefined
  const caps = [...new Set(ready.map((n) => n.requires))].sort()
  return `waiting: ${ready.length} node(s) ready, none leased${state.lastLeaseAt === undefined ? " yet" : ` for ${seconds(now - state.lastLeaseAt)}`} — no worker is taking capabilities: ${caps.join(", ")}`
}

/** The progress block: a bar per kind, then the totals with an ETA from the pace since the watch began. */
export const render = (state: WatchState, now: number) => {
  const kinds = progress(state)
  const width = Math.max(...kinds.map(([k]) => k.length), 4)
  const notes = (k: { failed: number; skipped: number; cancelled: number }) => {
    const parts = [k.failed > 0 ? `${k.failed} failed` : "", k.skipped > 0 ? `${k.skipped} skipped` : "", k.cancelled > 0 ? `${k.cancelled} cancelled` : ""].filter((x) => x)
    return parts.length > 0 ? ` (${parts.join(", ")})` : ""
  }
  const lines = kinds.map(([kind, k]) => `${kind.padEnd(width)} ${bar(k.done, k.total)} ${k.done}/${k.total}${notes(k)}`)
  const done = kinds.reduce((s, [, k]) => s + k.done, 0)
  const total = kinds.reduce((s, [, k]) => s + k.total, 0)
  if (state.doneAtStart === undefined) state.doneAtStart = done
  const elapsed = now - state.startedAt
  const pace = elapsed > 0 ? (done - state.doneAtStart) / elapsed : 0
  // No ETA once the job ended, nor while nothing is being worked on.
  const eta = pace > 0 && done < total && state.end === undefined && waiting(state, now, 3000) === undefined ? `, ETA ${seconds((total - done) / pace)}` : ""
  lines.push(`${"total".padEnd(width)} ${bar(done, total)} ${done}/${total} nodes, ${seconds(elapsed)} elapsed${eta}`)
  return lines
}
