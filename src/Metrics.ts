// Prometheus metrics: the instruments, and /metrics rendered from Effect's metric registry.
import { Duration, Effect, Metric, MetricBoundaries, MetricState, Option } from "effect"

export const httpRequests = Metric.counter("http_requests_total", { description: "HTTP requests by method and status" })
export const httpDuration = Metric.histogram(
  "http_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 }),
  "HTTP request latency"
)
export const datasetRegistrations = Metric.counter("dataset_registrations_total", { description: "Dataset registrations by outcome" })
export const datasetRegistrationDuration = Metric.histogram(
  "dataset_registration_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 14 }),
  "Time to spool, profile, store and record one dataset"
).pipe(Metric.mapInput((d: Duration.Duration) => Duration.toSeconds(d)))

export const submissions = Metric.counter("trainer_submissions_total", { description: "Trainer run submissions by outcome" })
export const schedulerInboxDepth = Metric.gauge("scheduler_inbox_depth", { description: "Requests waiting in the scheduler's inbox" })
export const schedulerBatchSize = Metric.histogram(
  "scheduler_batch_size",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 9 }),
  "Submissions committed per scheduler transaction"
)
export const nodeEvents = Metric.counter("node_events_total", {
  description: "Committed worker-protocol events by type (NodeLeased, NodeSucceeded, NodeFailed, NodeLeaseExpired, NodeRetryScheduled, JobCancelled, ...)"
})
export const stageDuration = Metric.histogram(
  "trainer_stage_duration_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "Latency of each pipeline stage (validate, build, compile, upload, submit)"
)

const escape = (v: string) => v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll(`"`, `\\"`)
const labels = (tags: ReadonlyArray<{ key: string; value: string }>, extra: Record<string, string> = {}) => {
  const all = [...tags.map((t) => [t.key, t.value] as const), ...Object.entries(extra)]
  return all.length === 0 ? "" : `{${all.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`
}

/** The text exposition format (version 0.0.4) of every metric in the registry. */
export const renderPrometheus = Effect.map(Metric.snapshot, (pairs) => {
  const byName = new Map<string, { type: string; help: string; lines: Array<string> }>()
  for (const pair of pairs) {
    const name = pair.metricKey.name.replace(/[^a-zA-Z0-9_:]/g, "_")
    const help = Option.getOrElse(pair.metricKey.description, () => name)
    const tags = pair.metricKey.tags
    const state = pair.metricState
    const entry = (type: string) => {
      let e = byName.get(name)
      if (!e) byName.set(name, (e = { type, help, lines: [] }))
      return e
    }
    if (MetricState.isCounterState(state)) {
      entry("counter").lines.push(`${name}${labels(tags)} ${Number(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      entry("gauge").lines.push(`${name}${labels(tags)} ${Number(state.value)}`)
    } else if (MetricState.isHistogramState(state)) {
      const e = entry("histogram")
      for (const [bound, count] of state.buckets) {
        e.lines.push(`${name}_bucket${labels(tags, { le: Number.isFinite(bound) ? String(bound) : "+Inf" })} ${count}`)
      }
      if (!state.buckets.some(([b]) => !Number.isFinite(b))) e.lines.push(`${name}_bucket${labels(tags, { le: "+Inf" })} ${state.count}`)
      e.lines.push(`${name}_sum${labels(tags)} ${state.sum}`, `${name}_count${labels(tags)} ${state.count}`)
    }
  }
  return [...byName].map(([name, e]) => `# HELP ${name} ${e.help}\n# TYPE ${name} ${e.type}\n${e.lines.join("\n")}`).join("\n") + "\n"
})
